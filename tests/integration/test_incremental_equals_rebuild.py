"""Deterministic and exactly-once: any batch split, any crash, equals a rebuild from scratch."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from eventlog.events import Event
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from projections.resolver import compile_policy, session_id_for
from tests.fixtures.profiles import examples
from tests.fixtures.projections import new_projection, snapshot

POLICIES = [
    {},
    {"dimensions": ["chat", "sender"], "threads": {"inherit_parent": True},
     "reset": {"mode": "both", "idle_minutes": 90, "at_hour": 4},
     "compaction": {"summarize_threshold": 4, "context_limit_tokens": 400}},
    {"dimensions": ["space"], "threads": {"isolate": False}, "dm_scope": "main",
     "reset": {"mode": "idle", "idle_minutes": 30}},
]
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Every attempt keeps the batches it checkpointed, so a catch-up needs far fewer.
MAX_ATTEMPTS = 1_000


class Crash(Exception):
    """Raised from the projector's hook to simulate a worker dying mid-batch."""


def random_stream(seed: int, n: int, policy: Policy) -> list[Event]:
    """A small address space so that replies, edits, resets and threads collide often."""
    rng = random.Random(seed)
    compiled = compile_policy(policy)
    events: list[Event] = []
    messages: list[dict[str, Any]] = []
    clock = START
    for i in range(n):
        clock += timedelta(minutes=rng.choice([1, 2, 5, 40, 200, 1500]))
        chat, chat_type = rng.choice([("c1", "channel"), ("c2", "channel"), ("d1", "dm")])
        base: dict[str, Any] = {
            "agent": "main", "platform": rng.choice(["discord", "discord", "telegram"]),
            "space": "g1" if chat_type == "channel" else None, "chat": chat,
            "chat_type": chat_type, "occurred_at": clock.isoformat(),
            "topic": rng.choice([None, None, None, "t1"]) if chat_type == "channel" else None,
        }
        kind = rng.choices(["received", "sent", "tool", "edit", "delete", "redact", "reset",
                            "thread", "summary", "trigger"],
                           [30, 12, 6, 4, 3, 1, 2, 2, 3, 1])[0]
        earlier = [m for m in messages if m["chat"] == chat and m["platform"] == base["platform"]]
        needs_target = ("sent", "tool", "edit", "delete", "redact", "thread", "summary")
        if kind in needs_target and not earlier:
            kind = "received"
        target = rng.choice(earlier) if earlier else None
        text = " ".join(rng.choice(["ok", "deploy", "the", "pipeline", "is", "green", "why"])
                        for _ in range(rng.randint(1, 30)))
        if kind in ("received", "trigger"):
            sender = rng.choice(["u1", "u2", "u3"])
            data = {**base, "type": "message.received", "sender": sender,
                    "message_id": f"m{i}", "text": "/reset now" if kind == "trigger" else text}
            messages.append(data)
        elif kind in ("sent", "tool"):
            assert target is not None
            data = {**base, "topic": target.get("topic"),
                    "type": "message.sent" if kind == "sent" else "tool.used",
                    "message_id": f"m{i}", "reply_to": target["message_id"], "text": text,
                    "meta": {"tool": "bash"} if kind == "tool" else None}
            if kind == "sent":
                messages.append(data)
        elif kind in ("edit", "delete", "redact"):
            assert target is not None
            data = {**base, "topic": target.get("topic"), "message_id": target["message_id"],
                    "type": {"edit": "message.edited", "delete": "message.deleted",
                             "redact": "content.redacted"}[kind],
                    "text": text if kind == "edit" else None}
        elif kind == "thread":
            assert target is not None
            data = {**base, "type": "thread.created", "topic": f"t{i}",
                    "parent_message_id": target["message_id"]}
        elif kind == "summary":
            assert target is not None
            key = compiled.resolve(Event.model_validate(target)).key
            data = {"type": "summary.recorded", "agent": "main", "platform": base["platform"],
                    "occurred_at": clock.isoformat(), "text": "summary: " + text,
                    "session_id": str(session_id_for(compiled, key, rng.choice([0, 0, 1]))),
                    "position": rng.randint(1, i + 1)}
        else:
            data = {**base, "type": "session.reset", "sender": "u1"}
        events.append(Event.model_validate({k: v for k, v in data.items() if v is not None}))
    return events


def split(rng: random.Random, items: list[Any]) -> list[list[Any]]:
    chunks, index = [], 0
    while index < len(items):
        size = rng.randint(1, 25)
        chunks.append(items[index:index + size])
        index += size
    return chunks


@settings(max_examples=examples(20), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 120), policy_index=st.integers(0, 2))
def test_incremental_with_crashes_equals_rebuild(
        database_factory: Callable[[], AbstractContextManager[str]], token_counter: TokenCounter,
        seed: int, n: int, policy_index: int) -> None:
    rng = random.Random(seed)
    policy = Policy.model_validate(POLICIES[policy_index])
    events = random_stream(seed, n, policy)
    with database_factory() as url:
        engine = create_engine(url)
        store = EventStore(engine, token_counter)
        try:
            # Given an incremental projection fed in random chunks and random batch
            # sizes, whose worker crashes at random points and is restarted
            new_projection(engine, "incremental", policy)
            crashes = 0

            def hook(point: str, count: int) -> None:
                nonlocal crashes
                if rng.random() < 0.15:
                    crashes += 1
                    raise Crash(point)

            for chunk in split(rng, events):
                store.append(chunk)
                for _attempt in range(MAX_ATTEMPTS):
                    projector = Projector(engine, store, "incremental",
                                          batch_size=rng.randint(1, 30), hook=hook)
                    try:
                        projector.catch_up()
                        break
                    except Crash:
                        continue
                else:
                    pytest.fail(f"no catch-up survived {MAX_ATTEMPTS} attempts")
            # When the same policy is rebuilt from scratch in one pass
            new_projection(engine, "rebuild", policy)
            Projector(engine, store, "rebuild", batch_size=100_000).catch_up()
            # Then both hold exactly the same sessions, members and state
            with engine.connect() as conn:
                assert get(conn, "incremental").checkpoint == get(conn, "rebuild").checkpoint
            incremental, rebuilt = snapshot(engine, "incremental"), snapshot(engine, "rebuild")
            for table in incremental:
                assert incremental[table] == rebuilt[table], table
        finally:
            engine.dispose()
