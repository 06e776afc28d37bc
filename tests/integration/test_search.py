"""`convlog search`: finds what was said, by whom and in which session; filters; pages."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text

from eventlog.search_index import index_pending, state
from eventlog.store import EventStore
from projections.policy import Policy
from projections.registry import get
from projections.searching import SearchFilter, search
from projections.sessions import session_of_event
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection, project
from workers.cli.main import main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["search", *args, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def at(second: int) -> str:
    return f"2026-03-01T12:00:{second:02d}Z"


def conversation(store: EventStore) -> None:
    """Two agents, two platforms, three chats, an edit; one word appears everywhere."""
    store.append([
        make_event(message_id="d1", sender="111", sender_name="alice", occurred_at=at(1),
                   text="the deploy of build 4417 failed with ECONNRESET"),
        make_event(type="message.sent", message_id="d2", reply_to="d1", sender="bot",
                   sender_name="convbot", occurred_at=at(2), text="I will retry the deploy"),
        make_event(message_id="d3", sender="222", sender_name="bob", chat="1000000002",
                   occurred_at=at(3), text="unrelated lunch plans"),
        make_event(type="message.edited", message_id="d3", sender="222", chat="1000000002",
                   occurred_at=at(4), text="lunch plans moved, after the deploy"),
        make_event(agent="support", platform="telegram", space=None, chat="-100777",
                   chat_type="group", sender="42", sender_name="carol", message_id="t1",
                   occurred_at=at(5), text="support asks: did the deploy finish?"),
    ])


def positions(result: dict[str, Any]) -> list[int]:
    return [hit["position"] for hit in result["hits"]]


def test_a_search_finds_the_message_its_sender_and_its_session(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a conversation projected under the default projection
    conversation(store)
    project(engine, store, "default")
    # When an id from the text is searched for (the simple configuration keeps it)
    result = run_json(capsys, "4417")
    # Then the one message holding it is found, with who said it, when and where
    assert positions(result) == [1]
    hit = result["hits"][0]
    assert (hit["sender"], hit["sender_name"], hit["chat"], hit["type"]) == (
        "111", "alice", "1000000001", "message.received")
    assert [hit["snippet"][a:b] for a, b in hit["highlights"]] == ["4417"]
    # and the session it is in, which `convlog context` opens
    with engine.connect() as conn:
        expected = session_of_event(conn, get(conn).id, 1)
    assert hit["session_id"] == str(expected)
    capsys.readouterr()
    assert main(["context", hit["session_id"], "--json"]) == 0
    assert "build 4417" in capsys.readouterr().out


def test_an_edit_is_found_and_named_with_the_session_of_the_message_it_edits(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    conversation(store)
    project(engine, store, "default")
    result = run_json(capsys, "moved")
    assert positions(result) == [4]
    with engine.connect() as conn:
        assert result["hits"][0]["session_id"] == str(session_of_event(conn, get(conn).id, 3))


def test_phrases_exclusions_and_every_filter(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    conversation(store)
    project(engine, store, "default")
    assert sorted(positions(run_json(capsys, "deploy"))) == [1, 2, 4, 5]
    assert positions(run_json(capsys, '"retry the deploy"')) == [2]
    assert sorted(positions(run_json(capsys, "deploy -lunch"))) == [1, 2, 5]
    assert positions(run_json(capsys, "deploy", "--sender", "discord:111")) == [1]
    assert positions(run_json(capsys, "deploy", "--chat", "discord:1000000002")) == [4]
    assert positions(run_json(capsys, "deploy", "--space", "discord:1234567890",
                              "--agent", "main", "--limit", "10")).__len__() == 3
    assert positions(run_json(capsys, "deploy", "--agent", "support")) == [5]
    assert sorted(positions(run_json(capsys, "deploy", "--since", at(3),
                                     "--until", at(5)))) == [4]
    session = run_json(capsys, "deploy", "--sender", "discord:111")["hits"][0]["session_id"]
    assert sorted(positions(run_json(capsys, "deploy", "--session", session))) == [1, 2]


def test_ranking_puts_the_denser_match_first(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    store.append([make_event(text="rollback once, then lunch"),
                  make_event(text="rollback rollback rollback: the rollback failed"),
                  make_event(text="nothing to see")])
    result = run_json(capsys, "rollback")
    assert positions(result) == [2, 1]
    assert result["hits"][0]["rank"] > result["hits"][1]["rank"]


def test_a_search_never_misses_an_event_appended_before_it(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given events appended with no worker and no catch-up running
    conversation(store)
    store.append([make_event(text="quokka sighting")])
    # When searched, Then the newest one is found (its session not folded yet)
    result = run_json(capsys, "quokka")
    assert positions(result) == [6]
    assert result["hits"][0]["session_id"] is None
    assert result["indexed_upto"] == 6


def test_human_output_is_terminal_safe(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    store.append([make_event(sender_name="\x1b]0;owned\x07mallory",
                             text="payload \x1b[2J[bold]wipe[/bold] deploy")])
    capsys.readouterr()
    assert main(["search", "deploy"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J[bold]wipe[/bold]" in out and "\\x1b]0;owned\\x07mallory" in out


def test_cursor_pages_cover_every_hit_once_while_the_log_grows(
        store: EventStore, engine: Engine) -> None:
    # Given 30 matching messages, ranked in windows of at most 7 matches within spans of
    # 5 positions (so the spans bite, and pages of 4 cross windows)
    store.append([make_event(text="needle " * (1 + n % 4) + f"hay {n}") for n in range(30)])
    index_pending(engine)
    with engine.connect() as conn:
        info = get(conn)
        upto = state(conn).indexed_upto

    def page(cursor: str | None) -> tuple[list[int], str | None]:
        with engine.connect() as conn:
            found = search(conn, info, "needle", SearchFilter(), config="simple",
                           indexed_upto=upto, limit=4, cursor=cursor, window=7, span=5)
        return [hit.position for hit in found.hits], found.next_cursor

    # When paging through, with more matches appended (and indexed) between pages
    seen, cursor = page(None)
    while cursor is not None:
        store.append([make_event(text="needle needle needle late")])
        index_pending(engine)
        more, cursor = page(cursor)
        seen += more
    # Then every match that existed at the first page appears exactly once, none later
    assert sorted(seen) == list(range(1, 31))
    # and window by window, newest first, hits come best first
    with engine.connect() as conn:
        ranks: dict[int, float] = dict(conn.execute(text(
            "SELECT position, ts_rank(document, to_tsquery('simple', 'needle')) "
            "FROM search_documents")).all())
    windows = [seen[i:i + 5] for i in range(0, 30, 5)]
    assert [sorted(w) for w in windows] == [list(range(top - 4, top + 1))
                                            for top in range(30, 0, -5)]
    for window in windows:
        assert [ranks[p] for p in window] == sorted((ranks[p] for p in window), reverse=True)


def test_a_rare_word_is_found_across_empty_spans(store: EventStore, engine: Engine) -> None:
    # Given a word at the first and last of 40 positions, spans of 5 between them empty
    store.append([make_event(text="aardvark first")]
                 + [make_event(text=f"filler {n}") for n in range(38)]
                 + [make_event(text="aardvark last")])
    index_pending(engine)
    with engine.connect() as conn:
        page = search(conn, get(conn), "aardvark", SearchFilter(), config="simple",
                      indexed_upto=state(conn).indexed_upto, limit=1, window=7, span=5)
        rest = search(conn, get(conn), "aardvark", SearchFilter(), config="simple",
                      indexed_upto=state(conn).indexed_upto, limit=1, window=7, span=5,
                      cursor=page.next_cursor)
    # Then both are found, newest first, one page each
    assert [h.position for h in page.hits + rest.hits] == [40, 1]
    assert rest.next_cursor is None


def test_bad_queries_are_refused_with_codes(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    store.append([make_event(text="hello")])
    for args, code in ((["!!"], "EMPTY_QUERY"), (["hello", "--cursor", "xyz"], "INVALID_CURSOR"),
                       (["hello", "--sender", "111"], "INVALID_FILTER"),
                       (["hello", "--session", "nope"], "UNKNOWN_SESSION")):
        capsys.readouterr()
        assert main(["search", *args]) == 2
        assert f"[{code}]" in capsys.readouterr().err


def test_a_changed_configuration_is_refused_until_the_index_is_rebuilt(
        store: EventStore, engine: Engine, cli_env: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store.append([make_event(text="the runners were running")])
    assert positions(run_json(capsys, "running")) == [1]
    monkeypatch.setenv("CONVLOG_SEARCH_CONFIG", "english")
    capsys.readouterr()
    assert main(["search", "running"]) == 2
    assert "[SEARCH_CONFIG_CHANGED]" in capsys.readouterr().err
    # After a rebuild the stemmer applies: "run" finds "running" and "runners"
    assert positions(run_json(capsys, "run", "--reindex")) == [1]
    with engine.connect() as conn:
        assert state(conn).config == "english"


def test_a_hit_names_the_session_under_the_projection_asked_for(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    conversation(store)
    new_projection(engine, "guild", Policy.model_validate(
        {"spaces": {"discord:1234567890": {"session_scope": "guild"}}}))
    project(engine, store, "default")
    project(engine, store, "guild")
    default = run_json(capsys, "lunch")["hits"][0]["session_id"]
    guild = run_json(capsys, "lunch", "--projection", "guild")["hits"][0]["session_id"]
    with engine.connect() as conn:
        assert uuid.UUID(guild) == session_of_event(conn, get(conn, "guild").id, 3)
    assert default != guild
