"""Seed 002's migration as a re-projection: channel to guild scope and back, no event moved."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import Engine, text

from eventlog.events import Event
from eventlog.store import EventStore
from projections.context import ContextAssembler
from projections.errors import ProjectionError
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from projections.rescoping import activate_when_caught_up, build
from tests.fixtures import unchecked
from tests.fixtures.builders import event_dict, make_event
from tests.fixtures.projections import new_projection, snapshot
from tests.fixtures.unchecked import append_unchecked
from workers.tools.workload import sample_path

GUILD = Policy.model_validate({"spaces": {"discord:1234567890": {
    "session_scope": "guild", "channels": {"1000000003": {"session_scope": "channel"}}}}})
FOLLOW_UP = "What's the status of my CI pipeline setup?"


def events_checksum(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT position, event_id, payload::text, c::text FROM "
                                 "events JOIN event_content c USING (position) "
                                 "ORDER BY position")).all()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def active_context_of(engine: Engine, store: EventStore, text_of_message: str) -> str:
    with engine.connect() as conn:
        info = get(conn, None)
        session_id = conn.execute(text(
            "SELECT m.session_id FROM session_members m JOIN event_content c USING (position) "
            "WHERE m.projection_id = :p AND c.text = :t"),
            {"p": info.id, "t": text_of_message}).scalar_one()
        context = ContextAssembler(store.counter).assemble(conn, info.id, session_id,
                                                           budget=100_000)
    return " | ".join(str(m["content"]) for m in context.messages)


def test_channel_to_guild_scope_and_back(store: EventStore, engine: Engine) -> None:
    # Given the sample's channel-scoped traffic, projected by the default projection
    store.append([Event.model_validate_json(line)
                  for line in sample_path().read_text(encoding="utf-8").splitlines()])
    Projector(engine, store).catch_up()
    before = events_checksum(engine)
    assert "set up the CI pipeline" not in active_context_of(engine, store, FOLLOW_UP)
    # When a guild-scoped projection is built beside it and activated
    new_projection(engine, "guild", GUILD)
    build(engine, store, "guild")
    previous = activate_when_caught_up(engine, store, "guild")
    assert previous is not None and previous.name == "default"
    # Then #requests' context holds #general's discussion, the overridden #logs and the
    # thread stay alone, and not one event changed
    guild_context = active_context_of(engine, store, FOLLOW_UP)
    assert "Hey, can you help me set up the CI pipeline?" in guild_context
    with engine.connect() as conn:
        guild_id = get(conn, "guild").id
        keys = [k for (k,) in conn.execute(text(
            "SELECT key FROM sessions WHERE projection_id = :p AND platform = 'discord'"),
            {"p": guild_id})]
    assert any("1000000003" in k for k in keys), "#logs keeps its own channel session"
    assert any("topic=" in k or "thread" in k for k in keys), "the thread stays separate"
    assert events_checksum(engine) == before
    # And rollback restores the channel view
    with engine.begin() as conn:
        from projections.registry import rollback

        assert rollback(conn) == ("guild", "default")
    assert "set up the CI pipeline" not in active_context_of(engine, store, FOLLOW_UP)


def test_activation_refuses_a_lagging_projection(store: EventStore, engine: Engine) -> None:
    store.append([make_event() for _ in range(5)])
    new_projection(engine, "guild", GUILD)
    with pytest.raises(ProjectionError, match="5 events behind"):
        activate_when_caught_up(engine, store, "guild")
    assert activate_when_caught_up(engine, store, "guild", wait=True) is not None


MAX_CONCURRENT_APPENDS = 3_000


@pytest.mark.slow
def test_activation_under_concurrent_ingest_loses_nothing(store: EventStore,
                                                          engine: Engine) -> None:
    # Given ingest running while a new projection is built and activated
    store.append([make_event(text=f"before {i}") for i in range(200)])
    new_projection(engine, "guild", GUILD)
    stop = threading.Event()

    def ingest() -> None:
        # Bounded: the writer stops when told, or after MAX_CONCURRENT_APPENDS appends.
        for i in range(MAX_CONCURRENT_APPENDS):
            if stop.is_set():
                return
            store.append([make_event(text=f"during {i}")])

    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        build(engine, store, "guild")
        activate_when_caught_up(engine, store, "guild", wait=True)
    finally:
        stop.set()
        writer.join()
    # Then once caught up, the new projection equals a rebuild of the whole log
    Projector(engine, store, "guild").catch_up()
    new_projection(engine, "check", GUILD)
    Projector(engine, store, "check").catch_up()
    assert snapshot(engine, "guild") == snapshot(engine, "check")


def test_rebuild_of_the_same_policy_gives_identical_ids_and_contexts(
        store: EventStore, engine: Engine) -> None:
    store.append([Event.model_validate_json(line)
                  for line in sample_path().read_text(encoding="utf-8").splitlines()])
    new_projection(engine, "first", GUILD)
    build(engine, store, "first")
    new_projection(engine, "second", GUILD)
    build(engine, store, "second")
    assert snapshot(engine, "first") == snapshot(engine, "second")


def test_drop_removes_rows_never_events(store: EventStore, engine: Engine) -> None:
    store.append([make_event() for _ in range(3)])
    new_projection(engine, "spare", GUILD)
    build(engine, store, "spare")
    before = events_checksum(engine)
    from projections.registry import drop

    with engine.begin() as conn, pytest.raises(ProjectionError, match="active projection"):
        drop(conn, get(conn, "default"))
    with engine.begin() as conn:
        drop(conn, get(conn, "spare"))
    assert events_checksum(engine) == before


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_parallel_rebuild_equals_a_single_rebuild(store: EventStore, engine: Engine,
                                                  workers: int) -> None:
    # Given a multi-platform log with replies, edits, resets and threads
    from projections.parallel import rebuild_parallel
    from workers.tools.workload import generate

    store.append([Event.model_validate(e) for e in generate(3_000, seed=workers)])
    # When one projection is rebuilt by several processes and another by one
    new_projection(engine, "parallel", GUILD)
    result = rebuild_parallel(engine, store, "parallel", workers, batch_size=400)
    Projector(engine, store, "parallel").catch_up()
    new_projection(engine, "single", GUILD)
    Projector(engine, store, "single").catch_up()
    # Then they are identical, row for row, and the work was split
    assert result.events == 3_000
    assert snapshot(engine, "parallel") == snapshot(engine, "single")


@pytest.mark.parametrize("workers", [2, 3])
def test_a_parallel_rebuild_folds_summaries_recorded_from_another_slice(
        store: EventStore, engine: Engine, workers: int) -> None:
    # Given sessions of several accounts, and summaries recorded by an agent that names
    # no account (so the summary events hash into another slice than their sessions),
    # one summary for a session that only starts later, and one that cannot be folded
    from projections.parallel import rebuild_parallel
    from projections.resolver import compile_policy, session_id_for

    compiled = compile_policy(GUILD)
    messages = [Event.model_validate(event_dict(
        platform="telegram", account=f"bot{n % 4}", space=None, chat=f"-100{n % 6}",
        chat_type="group", sender=f"u{n % 3}")) for n in range(60)]
    late = Event.model_validate(event_dict(platform="telegram", account="bot9", space=None,
                                           chat="-1009", chat_type="group"))

    def summary(of: Event, covers: int) -> Event:
        session = session_id_for(compiled, compiled.resolve(of).key, 0)
        return Event.model_validate({
            "type": "summary.recorded", "agent": "main", "platform": "telegram",
            "occurred_at": "2026-03-01T12:00:00Z", "text": "so far", "session_id": str(session),
            "position": covers})

    store.append(messages[:30])
    store.append([summary(messages[n], 10 + n) for n in range(0, 12, 2)] + [summary(late, 5)])
    store.append(messages[30:])
    store.append([summary(messages[n], 70 + n) for n in range(1, 12, 3)])
    store.append([late])
    append_unchecked(engine, unchecked.summary("not-a-uuid", 3, platform="telegram"))
    # When the log is rebuilt by several processes and by one
    new_projection(engine, "parallel", GUILD)
    rebuild_parallel(engine, store, "parallel", workers, batch_size=7)
    Projector(engine, store, "parallel").catch_up()
    new_projection(engine, "single", GUILD)
    Projector(engine, store, "single").catch_up()
    # Then every summary lands as in the single build (the late one nowhere), and the
    # same event is quarantined
    single = snapshot(engine, "single")
    assert len(single["summaries"]) == 10
    assert snapshot(engine, "parallel") == single
    with engine.connect() as conn:
        quarantined = {name: conn.execute(text(
            "SELECT position, code FROM quarantined_events q JOIN projections p "
            "ON p.id = q.projection_id WHERE p.name = :n ORDER BY position"),
            {"n": name}).all() for name in ("parallel", "single")}
    assert quarantined["parallel"] == quarantined["single"] != []
