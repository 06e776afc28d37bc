"""A build writes without its secondary indexes and builds them once, when it is caught up."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import activate, get
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection

SECONDARY = ("sessions_p{id}_key", "session_members_p{id}_running")


class Crash(Exception):
    pass


def secondary_indexes(engine: Engine, name: str) -> set[str]:
    with engine.connect() as conn:
        projection_id = get(conn, name).id
        present = {row[0] for row in conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))}
    return {n.format(id=projection_id) for n in SECONDARY} & present


def all_of(engine: Engine, name: str) -> set[str]:
    with engine.connect() as conn:
        projection_id = get(conn, name).id
    return {n.format(id=projection_id) for n in SECONDARY}


def test_a_build_has_its_indexes_only_from_the_batch_that_catches_it_up(
        store: EventStore, engine: Engine) -> None:
    # Given a log of 30 messages in three chats, and a new per-user projection
    store.append([make_event(chat=f"c{i % 3}", sender=f"u{i % 2}", text=f"t {i}")
                  for i in range(30)])
    new_projection(engine, "per-user", Policy.model_validate({"dimensions": ["chat", "sender"]}))
    # When its build has folded two batches of ten
    Projector(engine, store, "per-user", batch_size=10).catch_up(max_batches=2)
    # Then it has rows but none of its secondary indexes yet
    assert secondary_indexes(engine, "per-user") == set()

    # And when the last batch crashes after writing its rows, the indexes roll back with it
    def crash(point: str, count: int) -> None:
        if point == "checkpointed":
            raise Crash(point)

    with pytest.raises(Crash):
        Projector(engine, store, "per-user", batch_size=10, hook=crash).catch_up()
    with engine.connect() as conn:
        info = get(conn, "per-user")
    assert info.caught_up_at is None and info.checkpoint == 20
    assert secondary_indexes(engine, "per-user") == set()
    # And when the build resumes to the head, the batch that catches it up builds them
    Projector(engine, store, "per-user", batch_size=10).catch_up()
    with engine.connect() as conn:
        info = get(conn, "per-user")
    assert info.caught_up_at is not None and info.checkpoint == 30
    assert secondary_indexes(engine, "per-user") == all_of(engine, "per-user")


def test_activated_projection_reads_through_its_partition_indexes(
        store: EventStore, engine: Engine, token_counter: TokenCounter) -> None:
    # Given a built projection, activated
    store.append([make_event(chat="c", sender=f"u{i % 2}", text=f"t {i}") for i in range(40)])
    new_projection(engine, "per-user", Policy.model_validate({"dimensions": ["chat", "sender"]}))
    Projector(engine, store, "per-user").catch_up()
    with engine.begin() as conn:
        info = get(conn, "per-user")
        activate(conn, info)
    # When the planner is kept off sequential scans, a session looked up by key and
    # a context's start found by running total use the partition's own indexes
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        by_key = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT session_id FROM sessions WHERE projection_id = :p AND key = 'k' "
            "AND epoch = 0"), {"p": info.id}))
        by_total = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT position FROM session_members WHERE projection_id = :p "
            "AND session_id = gen_random_uuid() AND running_tokens >= 5 "
            "ORDER BY running_tokens LIMIT 1"), {"p": info.id}))
    assert f"sessions_p{info.id}_key" in by_key
    assert f"session_members_p{info.id}_running" in by_total
    # And the active projection answers a context as before
    with engine.connect() as conn:
        session_id = conn.execute(text(
            "SELECT session_id FROM sessions WHERE projection_id = :p LIMIT 1"),
            {"p": info.id}).scalar_one()
        context = ContextAssembler(token_counter).assemble(conn, info.id, session_id, budget=10_000)
    assert context.messages


def test_the_default_projection_is_indexed_from_the_start(engine: Engine) -> None:
    # Given a freshly initialized database: its default projection is active at once
    assert secondary_indexes(engine, "default") == all_of(engine, "default")
