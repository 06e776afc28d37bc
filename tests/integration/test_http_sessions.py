"""Sessions over HTTP: pages and filters, one session, summaries, resets, projections (admin)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from convlog_client import ConvlogApiError
from sqlalchemy import create_engine, text

from eventlog.tokens import TokenCounter
from projections.context import ContextAssembler
from projections.registry import get
from tests.fixtures.builders import event_dict
from tests.fixtures.database import fresh_database
from tests.fixtures.http import ApiServer, start_server


def test_sessions_page_by_cursor_and_filter(api: ApiServer) -> None:
    # Given seven sessions of agent main (one per chat, two people) and one of agent ops
    client = api.client(api.token("gw", agents=["main", "ops"]))
    for chat in range(7):
        client.turn(event_dict(chat=f"c{chat}", sender="alice" if chat < 3 else "bob"))
    last = client.turn(event_dict(agent="ops", chat="c0"))
    # When they are read in pages of three, and filtered, each read after the last turn
    # (a turn may be answered before the projection holds its session)
    pages = []
    cursor = None
    after = last["position"]
    for _ in range(10):
        page = client.sessions(agent="main", limit=3, cursor=cursor, after=after)
        pages.append([s["key"] for s in page["sessions"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    alice = client.sessions(participant="alice", after=after)["sessions"]
    prefix = client.sessions(key_prefix="agent=ops/", after=after)["sessions"]
    # Then the pages hold every main session once, newest first, and the filters narrow
    assert [len(p) for p in pages] == [3, 3, 1]
    keys = [key for page in pages for key in page]
    assert keys == [f"agent=main/platform=discord/account=default/chat=c{n}"
                    for n in reversed(range(7))]
    assert len(alice) == 3
    assert [s["session_id"] for s in prefix] == [last["session_id"]]
    with pytest.raises(ConvlogApiError) as bad:
        client.sessions(cursor="not-a-cursor")
    assert bad.value.code == "INVALID_CURSOR"


def test_a_summary_and_a_reset_through_the_api(api: ApiServer) -> None:
    # Given a session of three messages
    client = api.client(api.token("gw"))
    turns = [client.turn(event_dict(text=f"m{n}")) for n in range(3)]
    session = turns[-1]["session_id"]
    # When a summary of the first two is recorded (twice: a retry), then the session is reset
    summary = client.summarize(session, "they said m0 and m1", turns[1]["position"])
    again = client.summarize(session, "they said m0 and m1", turns[1]["position"])
    context = client.context(session, after=summary["position"])
    reset = client.reset(session, id="reset-1")
    reset_again = client.reset(session, id="reset-1")
    after_reset = client.turn(event_dict(text="fresh start"))
    # Then the context starts with the summary; the retry was a duplicate; the reset opened
    # a new session that holds only what came after it
    assert (summary["status"], again["status"]) == ("appended", "duplicate")
    assert [m["content"] for m in context["messages"]] == ["they said m0 and m1", "m2"]
    assert (reset["status"], reset_again["status"]) == ("appended", "duplicate")
    assert after_reset["session_id"] != session
    assert [m["content"] for m in after_reset["context"]["messages"]] == ["fresh start"]
    assert client.session(session)["session_id"] == session


def test_a_summary_outside_its_session_is_refused_with_its_code(api: ApiServer) -> None:
    # Given two sessions of one message each
    client = api.client(api.token("gw"))
    first = client.turn(event_dict(chat="c1", text="one"))
    other = client.turn(event_dict(chat="c2", text="two"))
    # When a summary of the first session names the other session's position
    with pytest.raises(ConvlogApiError) as refused:
        client.summarize(first["session_id"], "not ours", other["position"])
    # Then it is refused as invalid, and nothing was appended
    assert (refused.value.status, refused.value.code) == (422, "INVALID_SUMMARY_POSITION")
    assert client.context(first["session_id"])["messages"][-1]["content"] == "one"


def test_projections_are_admin_only_and_build_in_the_background(api: ApiServer) -> None:
    # Given some traffic, an admin token and a gateway token
    gateway = api.client(api.token("gw"))
    for chat in range(3):
        gateway.turn(event_dict(chat=f"c{chat}"))
    admin = api.client(api.token("ops", agents=["*"], verbs=["admin", "read"]))
    # When the admin creates a per-user projection and waits for it, then activates it
    created = admin.create_projection("per-user", {"dimensions": ["chat", "sender"]})
    for _ in range(200):
        if admin.projection("per-user")["state"] == "caught up":
            break
        time.sleep(0.05)
    activated = admin.activate("per-user")
    back = admin.rollback()
    # Then each step reports its state; the gateway token may do none of it
    assert created["name"] == "per-user" and created["active"] is False
    assert activated == {"active": "per-user", "previous": "default"}
    assert back == {"active": "default", "previous": "per-user"}
    assert {p["name"] for p in admin.projections()} == {"default", "per-user"}
    with pytest.raises(ConvlogApiError) as refused:
        gateway.create_projection("mine", {})
    assert refused.value.status == 403
    with pytest.raises(ConvlogApiError) as invalid:
        admin.create_projection("bad", {"dimensions": ["planet"]})
    assert invalid.value.status == 422 and invalid.value.code == "INVALID_POLICY"


def test_health_readiness_and_metrics(api: ApiServer) -> None:
    # Given a server that appended and refused something
    client = api.client(api.token("gw"))
    client.append([event_dict(), event_dict(occurred_at="0001-01-01T00:00:00Z")])
    # When the probes and the metrics are read, without a token, once the server's
    # follower has folded the append
    health = httpx.get(f"{api.url}/healthz")
    deadline = time.monotonic() + 10
    while (ready := httpx.get(f"{api.url}/readyz")).json()["projections"][0]["lag_events"]:
        assert time.monotonic() < deadline, "the server's follower did not fold the append"
        time.sleep(0.05)
    metrics = httpx.get(f"{api.url}/metrics").text
    # Then they answer, with lag per projection and counters by code
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["schema_current"] is True
    assert "convlog_events_appended_total 1.0" in metrics
    assert 'convlog_events_rejected_total{code="TIME_OUT_OF_RANGE"} 1.0' in metrics
    assert 'convlog_projection_lag_events{projection="default"} 0.0' in metrics
    assert "convlog_http_request_duration_seconds_bucket" in metrics


def test_context_and_turns_count_in_the_encoding_the_caller_names(api: ApiServer) -> None:
    # Given a session whose texts count differently in the two encodings
    client = api.client(api.token("gw"))
    texts = ["ничего не работает после обновления 🙂🙂", "```python\nprint('héllo')\n```",
             "日本語のテキストも数える"]
    turns = [client.turn(event_dict(text=text)) for text in texts]
    session = turns[-1]["session_id"]
    # When its context is asked for in each encoding (and a turn names one)
    by_encoding = {name: client.context(session, budget=10_000, encoding=name,
                                        after=turns[-1]["position"])
                   for name in ("cl100k_base", "o200k_base")}
    with api.engine.connect() as conn:
        info = get(conn, None)
        direct = {name: ContextAssembler(TokenCounter(name)).assemble(
            conn, info.id, uuid.UUID(session), budget=10_000, encoding=name).as_dict()
            for name in by_encoding}
    turned = client.turn(event_dict(text="and one more"), encoding="o200k_base")
    # Then each answer counts in its encoding, as the library's own assembly does
    for name, answer in by_encoding.items():
        assert answer["tokens"]["total"] == direct[name]["tokens"]["total"]
    assert by_encoding["cl100k_base"]["tokens"] != by_encoding["o200k_base"]["tokens"]
    assert turned["context"]["tokens"]["total"] > by_encoding["o200k_base"]["tokens"]["total"]
    with api.engine.connect() as conn:
        after_turn = ContextAssembler(TokenCounter("o200k_base")).assemble(
            conn, info.id, uuid.UUID(session), budget=8_000, encoding="o200k_base")
    assert turned["context"]["tokens"] == after_turn.as_dict()["tokens"]
    # And an encoding convlog cannot count is refused before anything is appended
    with pytest.raises(ConvlogApiError) as unknown:
        client.context(session, encoding="p50k_base")
    assert (unknown.value.status, unknown.value.code) == (422, "UNKNOWN_ENCODING")
    with pytest.raises(ConvlogApiError) as refused:
        client.turn(event_dict(text="never appended", id="never"), encoding="gpt2")
    assert refused.value.code == "UNKNOWN_ENCODING"
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE event_id = 'never'")
                            ).scalar() == 0


def test_a_projection_made_over_http_is_built_by_a_job_in_its_own_database(
        api_factory: Callable[..., ApiServer], admin_url: str, template_database: str) -> None:
    # Given two servers in this process, each on its own database (the second made now)
    first = api_factory()
    with fresh_database(admin_url, template_database) as other_url:
        engine = create_engine(other_url)
        try:
            second = start_server(other_url, engine)
            try:
                admin = second.client(second.token("ops", agents=["*"], verbs=["admin"]))
                # When the second is asked for a projection, activated once built
                admin.create_projection("by-job", {"dimensions": ["chat"]}, activate=True)
                for _ in range(400):
                    if admin.projection("by-job")["active"]:
                        break
                    time.sleep(0.05)
                # Then a job built and activated it there, and not in the first's database
                assert admin.projection("by-job")["active"] is True
                with first.engine.connect() as conn:
                    assert conn.execute(text(
                        "SELECT count(*) FROM projections WHERE name = 'by-job'")
                    ).scalar_one() == 0
                # and no route started a thread of its own for it
                assert not [t for t in threading.enumerate() if t.name.startswith(
                    "convlog-build")]
            finally:
                second.stop()
        finally:
            engine.dispose()
