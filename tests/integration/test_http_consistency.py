"""Read-your-writes: with `after`, a context reflects the append, or is a 503; never stale."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from convlog_client import ConvlogApiError
from sqlalchemy import text

from eventlog.store import EventStore
from projections.projector import Projector
from projections.registry import get, projector_lock_key
from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer

CLIENTS = 4
ROUNDS = 8


def test_contexts_read_the_writes_while_another_projector_runs(api: ApiServer,
                                                               store: EventStore) -> None:
    # Given a projector looping in the background, as `convlog worker` does, so the
    # server's own catch-up sometimes finds the projection busy
    stop = threading.Event()

    def project() -> None:
        projector = Projector(api.engine, store)
        while not stop.is_set():
            projector.catch_up()
            stop.wait(0.005)

    background = threading.Thread(target=project, daemon=True)
    background.start()
    token = api.token("gw")

    def gateway(index: int) -> list[tuple[str, list[str]]]:
        client = api.client(token)
        seen: list[tuple[str, list[str]]] = []
        for round_ in range(ROUNDS):
            # When each gateway appends a message and reads the session with `after`
            event = event_dict(chat=f"chat-{index}", text=f"g{index} r{round_}")
            appended = client.append([event])
            session = client.resolve(event)["session_id"] if round_ == 0 else seen[0][0]
            context = client.context(session, after=appended["last_position"], budget=100_000)
            seen.append((session, [m["content"] for m in context["messages"]]))
            # And a turn, whose context must include its own message
            turn = client.turn(event_dict(chat=f"chat-{index}", text=f"t{index} r{round_}"))
            seen.append((turn["session_id"], [m["content"] for m in turn["context"]["messages"]]))
        return seen

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(gateway, range(CLIENTS)))
    finally:
        stop.set()
        background.join(timeout=10)

    # Then every answer holds every message that gateway wrote before it, in order
    for index, seen in enumerate(results):
        written: list[str] = []
        for round_, (_, contents) in enumerate(seen):
            written.append(f"{'g' if round_ % 2 == 0 else 't'}{index} r{round_ // 2}")
            assert contents == written, f"gateway {index} read a stale context"


def test_a_projection_held_elsewhere_gives_503_with_retry_after_not_a_stale_answer(
        api_factory: Callable[..., ApiServer]) -> None:
    # Given a server that waits 0.3 s for the projector, and a session with one message
    api = api_factory(api_consistency_timeout=0.3)
    client = api.client(api.token("gw"), retries=0)
    first = client.turn(event_dict(text="first"))
    with api.engine.connect() as conn:
        projection_id = get(conn, None).id
    # And another process holding the projector, as a long rebuild or a stuck worker would
    with api.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"),
                       {"k": projector_lock_key(projection_id)})
        second = client.append([event_dict(text="second")])
        # When the gateway reads its write
        with pytest.raises(ConvlogApiError) as lagging:
            client.context(first["session_id"], after=second["last_position"])
        # Then it is told to retry, not handed a context without its message
        assert (lagging.value.status, lagging.value.code) == (503, "PROJECTION_LAGGING")
        assert lagging.value.retry_after is not None
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
        holder.commit()
    # And once the projector is free, the same read reflects the write
    context = client.context(first["session_id"], after=second["last_position"])
    assert [m["content"] for m in context["messages"]] == ["first", "second"]
    assert context["checkpoint"] >= second["last_position"]


def test_a_position_past_the_head_is_refused_not_waited_for(api: ApiServer) -> None:
    # Given a session
    client = api.client(api.token("gw"))
    turn = client.turn(event_dict())
    # When a context is asked for after a position the log never handed out
    with pytest.raises(ConvlogApiError) as past:
        client.context(turn["session_id"], after=turn["position"] + 1_000)
    # Then it is a 422 at once
    assert (past.value.status, past.value.code) == (422, "POSITION_PAST_HEAD")
