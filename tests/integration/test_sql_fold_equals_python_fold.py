"""The set-based fold writes exactly what the hybrid fold writes, whatever the log and batches."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

from eventlog.events import Event
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.parallel import plan_slices
from projections.policy import Policy, load_policy
from projections.projector import Projector
from projections.projector.fold import fold_batch
from projections.projector.interface import BatchFold
from projections.projector.sqlfold import fold_sql
from projections.registry import get
from projections.resolver import compile_policy, session_id_for
from tests.fixtures.projections import new_projection

POLICIES = [
    {},
    {"dimensions": ["chat", "sender"], "threads": {"inherit_parent": True},
     "reset": {"mode": "both", "idle_minutes": 90, "at_hour": 4},
     "compaction": {"summarize_threshold": 4, "context_limit_tokens": 400}},
    {"dimensions": ["space"], "threads": {"isolate": False}, "dm_scope": "main",
     "reset": {"mode": "idle", "idle_minutes": 30}},
    {"dimensions": ["chat"], "threads": {"inherit_parent": True, "per_sender": True},
     "reset": {"mode": "daily", "at_hour": 2, "timezone": "America/New_York",
               "triggers": ["/new", "/reset", "!start"]}},
    {"dimensions": ["chat", "sender"], "dm_scope": "per-peer",
     "reset": {"mode": "both", "idle_minutes": 300, "at_hour": 23,
               "timezone": "Asia/Kolkata"}},
    {"dimensions": ["chat", "topic"], "dm_scope": "per-account-channel-peer",
     "reset": {"triggers": []}},
]
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))
# Around a DST change in New York, so daily boundaries meet repeated and missing hours.
START = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
TEXTS = ["ok", "deploy", "the", "pipeline", "is", "green", "why"]
TRIGGERS = ["/reset now", "/new", " /NEW@bot hi", "\u3000/reset", "!start", "/reset@x",
            "/newer", "/", "\t"]


def stream(seed: int, n: int, policy: Policy) -> list[Event]:
    """A small address space, so replies (to replies), edits, resets and threads collide."""
    rng = random.Random(seed)
    compiled = compile_policy(policy)
    events: list[Event] = []
    messages: list[dict[str, Any]] = []
    clock = START
    for i in range(n):
        clock += timedelta(minutes=rng.choice([0, 1, 2, 5, 40, 200, 700, 1500]))
        chat, chat_type = rng.choice([("c1", "channel"), ("c2", "group"), ("d1", "dm"),
                                      ("d2", "dm")])
        base: dict[str, Any] = {
            "agent": rng.choice(["main", "main", "ops"]),
            "platform": rng.choice(["discord", "discord", "telegram"]),
            "account": rng.choice(["default", "default", "bot2"]),
            "space": "g1" if chat_type != "dm" else None, "chat": chat,
            "chat_type": chat_type, "occurred_at": clock.isoformat(),
            "topic": rng.choice([None, None, None, "t1", "t2"]) if chat_type != "dm" else None,
        }
        kind = rng.choices(["received", "sent", "tool", "edit", "delete", "redact", "reset",
                            "thread", "summary", "trigger", "orphan"],
                           [30, 12, 6, 4, 3, 1, 3, 3, 3, 3, 3])[0]
        earlier = [m for m in messages if m["chat"] == chat and m["platform"] == base["platform"]
                   and m["agent"] == base["agent"] and m["account"] == base["account"]]
        needs_target = ("sent", "tool", "edit", "delete", "redact", "thread", "summary")
        if kind in needs_target and not earlier:
            kind = "received"
        target = rng.choice(earlier) if earlier else None
        words = " ".join(rng.choice(TEXTS) for _ in range(rng.randint(1, 20)))
        # Message ids repeat now and then: the first member keeps the id.
        message_id = f"m{i}" if rng.random() < 0.9 else f"m{rng.randrange(i + 1)}"
        if kind in ("received", "trigger"):
            data = {**base, "type": "message.received",
                    "sender": rng.choice(["u1", "u2", "u3"]), "message_id": message_id,
                    "text": rng.choice(TRIGGERS) if kind == "trigger" else words}
            messages.append(data)
        elif kind in ("sent", "tool", "orphan"):
            reply_to = target["message_id"] if target else None
            if kind == "orphan":
                reply_to = f"x{i}"
            data = {**base, "topic": target.get("topic") if target else base["topic"],
                    "type": "tool.used" if kind == "tool" else "message.sent",
                    "message_id": message_id, "reply_to": reply_to, "text": words,
                    "meta": {"tool": "bash"} if kind == "tool" else None}
            messages.append(data)
        elif kind in ("edit", "delete", "redact"):
            assert target is not None
            data = {**base, "topic": target.get("topic"), "message_id": target["message_id"],
                    "type": {"edit": "message.edited", "delete": "message.deleted",
                             "redact": "content.redacted"}[kind],
                    "text": words if kind == "edit" else None}
        elif kind == "thread":
            assert target is not None
            data = {**base, "type": "thread.created", "topic": rng.choice([f"t{i}", "t1"]),
                    "parent_message_id": rng.choice([target["message_id"], "nope"])}
        elif kind == "summary":
            assert target is not None
            key = compiled.resolve(Event.model_validate(
                {k: v for k, v in target.items() if v is not None})).key
            data = {"type": "summary.recorded", "agent": base["agent"],
                    "platform": base["platform"], "occurred_at": clock.isoformat(),
                    "text": "summary: " + words,
                    "session_id": str(session_id_for(compiled, key, rng.choice([0, 0, 1, 2]))),
                    "position": rng.randint(1, i + 1)}
        else:
            data = {**base, "type": "session.reset", "sender": "u1"}
        events.append(Event.model_validate({k: v for k, v in data.items() if v is not None}))
    return events


def rows(engine: Engine, name: str) -> dict[str, list[Any]]:
    """Every column of every row a projection holds, but its id."""
    tables = ("sessions", "session_heads", "session_members", "message_index",
              "member_changes", "session_summaries", "thread_origins", "quarantined_events")
    with engine.connect() as conn:
        p = get(conn, name).id
        return {table: [row[0] for row in conn.execute(text(
            f"SELECT r FROM (SELECT to_jsonb(t) - 'projection_id' - 'quarantined_at' AS r "
            f"FROM {table} t WHERE projection_id = :p) x ORDER BY r::text"), {"p": p})]
            for table in tables}


def fold_both(engine: Engine, store: EventStore, events: list[Event], policy: Policy,
              rng: random.Random) -> None:
    """Append in chunks; after each, catch both folds up in random batch sizes; compare."""
    folds: dict[str, BatchFold] = {"python": fold_batch, "sql": fold_sql}
    for name in folds:
        new_projection(engine, name, policy)
    index = 0
    while index < len(events):
        size = rng.randint(1, 40)
        store.append(events[index:index + size])
        index += size
        for name, fold in folds.items():
            Projector(engine, store, name, batch_size=rng.randint(1, 60), fold=fold).catch_up()
    new_projection(engine, "sql-rebuild", policy)
    Projector(engine, store, "sql-rebuild", batch_size=100_000, fold=fold_sql).catch_up()
    # A parallel build's slices, where a batch is only part of its range of positions,
    # compared with the same slices folded by the hybrid fold (a slice cut by envelope
    # columns can separate a summary from its session, so a sliced build need not
    # equal a one-pass one; both folds must agree on it all the same).
    for name, fold in (("python-sliced", fold_batch), ("sql-sliced", fold_sql)):
        new_projection(engine, name, policy)
        with engine.begin() as conn:
            planned = plan_slices(conn, store, name, 3)
        sizes = random.Random(len(events))
        for state in planned:
            Projector(engine, store, name, batch_size=sizes.randint(1, 60),
                      partition=state.partition, fold=fold).catch_up()
        Projector(engine, store, name, fold=fold).catch_up()  # merges the slices
    assert rows(engine, "sql-sliced") == rows(engine, "python-sliced")
    python = rows(engine, "python")
    for name in ("sql", "sql-rebuild"):
        other = rows(engine, name)
        for table in python:
            assert other[table] == python[table], (name, table)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 120),
       policy_index=st.integers(0, len(POLICIES) - 1))
def test_sql_fold_writes_what_the_python_fold_writes(
        database_factory: Callable[[], AbstractContextManager[str]],
        token_counter: TokenCounter, seed: int, n: int, policy_index: int) -> None:
    # Given a random log and a policy (resets by clock and command, threads, scopes)
    policy = Policy.model_validate(POLICIES[policy_index])
    events = stream(seed, n, policy)
    with database_factory() as url:
        engine = create_engine(url)
        try:
            # When both folds follow it incrementally and the set-based one also rebuilds
            # Then every table holds the same rows
            fold_both(engine, EventStore(engine, token_counter), events, policy,
                      random.Random(seed))
        finally:
            engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_sql_fold_agrees_under_every_example_policy(
        database_factory: Callable[[], AbstractContextManager[str]],
        token_counter: TokenCounter, path: Path) -> None:
    policy = load_policy(path)
    for seed in range(3):
        with database_factory() as url:
            engine = create_engine(url)
            try:
                fold_both(engine, EventStore(engine, token_counter),
                          stream(seed, 150, policy), policy, random.Random(seed))
            finally:
                engine.dispose()
