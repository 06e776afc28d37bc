"""Projector faults: connections killed mid-catch-up, a lost lock, a worker killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.events import Event
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.errors import LockLost
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get, lock_holders, projector_lock_key
from tests.fixtures.builders import make_event
from tests.fixtures.profiles import examples
from tests.fixtures.projections import new_projection, snapshot
from tests.fixtures.unchecked import append_unchecked, message, summary
from workers.tools.workload import generate

MAX_ATTEMPTS = 200
# What a killed connection surfaces as: through SQLAlchemy, or raw from a COPY.
CONNECTION_LOST = (LockLost, DBAPIError, psycopg.OperationalError)


def checkpoint(engine: Engine, name: str = "default") -> int:
    with engine.connect() as conn:
        return get(conn, name).checkpoint


def quarantine(engine: Engine, name: str) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT position, code, error FROM quarantined_events WHERE projection_id = :p "
            "ORDER BY position"), {"p": get(conn, name).id})]


def terminate(engine: Engine, victim: str, projection_id: int) -> None:
    """pg_terminate_backend on this test's own backends: the lock's, the others, or all."""
    with engine.connect() as admin:
        lock = lock_holders(admin, projector_lock_key(projection_id))
        pids = [pid for (pid,) in admin.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"))]
        chosen = {"lock": lock, "others": [p for p in pids if p not in lock], "all": pids}
        for pid in chosen[victim]:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def assert_equals_a_clean_rebuild(engine: Engine, store: EventStore, name: str,
                                  policy: Policy | None = None) -> None:
    new_projection(engine, "clean", policy)
    Projector(engine, store, "clean", batch_size=100_000).catch_up()
    with engine.connect() as conn:
        assert checkpoint(engine, name) == store.horizon(conn)
    assert quarantine(engine, name) == quarantine(engine, "clean")
    assert snapshot(engine, name) == snapshot(engine, "clean")


def test_a_projector_that_lost_its_lock_stops_before_its_next_batch(
        store: EventStore, engine: Engine) -> None:
    # Given a log of three batches, and a projector whose lock connection is
    # terminated while it writes its first batch
    store.append([make_event(text=f"t {i}") for i in range(30)])
    with engine.connect() as conn:
        projection_id = get(conn, "default").id
    killed: list[str] = []

    def hook(point: str, count: int) -> None:
        if point == "written" and not killed:
            terminate(engine, "lock", projection_id)
            killed.append(point)

    # When it goes on
    with pytest.raises(LockLost) as raised:
        Projector(engine, store, batch_size=10, hook=hook).catch_up()
    # Then it stops, saying so, before writing another batch (the one in flight
    # commits: it began under the lock, and its checkpoint moved by compare-and-set)
    assert raised.value.code == "LOCK_LOST" and "lost its lock" in str(raised.value)
    assert checkpoint(engine) == 10
    # And a new projector resumes from there to the same result as a rebuild
    assert Projector(engine, store).catch_up().events == 20
    assert_equals_a_clean_rebuild(engine, store, "default")


@settings(max_examples=examples(5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6))
def test_connections_killed_at_random_batch_points_lose_and_double_nothing(
        database_factory: Callable[[], AbstractContextManager[str]], token_counter: TokenCounter,
        seed: int) -> None:
    rng = random.Random(seed)
    with database_factory() as url:
        engine = create_engine(url)
        store = EventStore(engine, token_counter)
        try:
            # Given a realistic log with a few poison events in it
            events = [Event.model_validate(e) for e in generate(300, seed=seed)]
            for index in range(0, len(events), 100):
                store.append(events[index:index + 100])
                append_unchecked(engine, rng.choice([summary("not-a-uuid", 1),
                                                     message(occurred_at="0001-01-01T00:00Z")]))
            with engine.connect() as conn:
                projection_id = get(conn, "default").id
            kills = []

            def hook(point: str, count: int) -> None:
                # When the projector's backends are terminated at random batch points
                if rng.random() < 0.15:
                    victim = rng.choice(["lock", "others", "all"])
                    kills.append((point, victim))
                    terminate(engine, victim, projection_id)

            for _attempt in range(MAX_ATTEMPTS):
                try:
                    Projector(engine, store, batch_size=rng.randint(20, 120),
                              hook=hook).catch_up()
                    break
                except CONNECTION_LOST:
                    continue
            else:
                pytest.fail(f"no catch-up survived {MAX_ATTEMPTS} attempts")
            # Then what committed equals a clean rebuild: nothing lost or doubled
            note(f"terminated at: {kills}")
            assert_equals_a_clean_rebuild(engine, store, "default")
        finally:
            engine.dispose()


KILLABLE = """
import sys
from sqlalchemy import create_engine
from eventlog.store import EventStore
from projections.projector import Projector
engine = create_engine(sys.argv[1])
def report(point, count):
    print(point, flush=True)
Projector(engine, EventStore(engine), "default", batch_size=int(sys.argv[2]),
          hook=report).catch_up()
print("done", flush=True)
"""


def test_a_worker_killed_with_sigkill_at_random_batch_points_resumes_exactly(
        store: EventStore, engine: Engine, database_url: str) -> None:
    # Given a log with poison events, projected by a worker process that is
    # killed with SIGKILL at a random batch point, again and again
    rng = random.Random(11)
    for index in range(6):
        store.append([make_event(sender=f"u{i % 5}", chat=f"c{i % 3}", text=f"{index} {i}")
                      for i in range(150)])
        append_unchecked(engine, summary(f"bad-{index}", 1))
    horizon = store.horizon()
    for _round in range(4):
        if checkpoint(engine) == horizon:
            break
        process = subprocess.Popen(
            [sys.executable, "-c", KILLABLE, database_url, str(rng.randint(15, 60))],
            stdout=subprocess.PIPE, text=True, env={**os.environ})
        assert process.stdout is not None
        with process.stdout:
            for _ in range(rng.randint(1, 12)):  # read, written, checkpointed, ...
                if process.stdout.readline().strip() in ("", "done"):
                    break
            process.send_signal(signal.SIGKILL)
            process.wait()
    killed_at = checkpoint(engine)
    # When a projector resumes after the last kill (once the killed process's backend has
    # noticed its client is gone and released the projector's lock)
    deadline = time.monotonic() + 30
    while Projector(engine, store).catch_up().skipped:
        assert time.monotonic() < deadline, "the killed projector's lock was never released"
        time.sleep(0.1)
    # Then the projection equals a clean rebuild, poison events quarantined once
    assert 0 < killed_at < horizon, "the kills should land mid-run"
    assert_equals_a_clean_rebuild(engine, store, "default")
    assert len(quarantine(engine, "default")) == 6
