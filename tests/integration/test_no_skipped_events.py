"""No skipped events: concurrent writers commit out of order; a reader sees each once, in order."""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import Engine, text

from eventlog.appending import prepare
from eventlog.schema import APPEND_LOCK_KEY
from eventlog.store import EventStore
from tests.fixtures.builders import make_event

WRITERS = 6
BATCHES_PER_WRITER = 15
WRITERS_TIMEOUT_SECONDS = 120


def writer(store: EventStore, engine: Engine, seed: int, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    try:
        for batch_number in range(BATCHES_PER_WRITER):
            events = [make_event(text=f"w{seed} b{batch_number} e{i}")
                      for i in range(rng.randint(1, 20))]
            prepared = prepare(events)
            with engine.begin() as conn:
                # Hold the transaction open for a while before and after the insert, so
                # transactions overlap and would commit out of position order if they could.
                time.sleep(rng.uniform(0, 0.01))
                store.append_prepared(prepared, conn=conn)
                time.sleep(rng.uniform(0, 0.02))
                if rng.random() < 0.1:
                    conn.rollback()  # an aborted append leaves a permanent gap in positions
    except BaseException as error:  # pragma: no cover - reported by the test
        errors.append(error)


def test_reader_sees_every_committed_event_exactly_once_in_order(store: EventStore,
                                                                  engine: Engine) -> None:
    # Given several writers appending concurrently with random delays inside their
    # transactions, and a reader that keeps polling after its last position
    errors: list[BaseException] = []
    threads = [threading.Thread(target=writer, args=(store, engine, seed, errors))
               for seed in range(WRITERS)]
    seen: list[int] = []
    for thread in threads:
        thread.start()

    # When the reader follows the log while they write
    def poll_once() -> None:
        with engine.connect() as conn:
            after = seen[-1] if seen else 0
            seen.extend(event.position for event in store.read(conn, after, limit=7))

    deadline = time.monotonic() + WRITERS_TIMEOUT_SECONDS
    while any(thread.is_alive() for thread in threads) and time.monotonic() < deadline:
        poll_once()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "writers did not finish in time"
    # Drain what is left: each poll reads at most 7, so this many polls read everything.
    for _ in range(WRITERS * BATCHES_PER_WRITER * 20 // 7 + 2):
        before = len(seen)
        poll_once()
        if len(seen) == before:
            break

    # Then it saw every committed event exactly once, in position order
    assert not errors
    with engine.connect() as conn:
        committed = [row[0] for row in conn.execute(
            text("SELECT position FROM events ORDER BY position"))]
    assert len(committed) > WRITERS * BATCHES_PER_WRITER // 2
    assert seen == committed


def test_insert_outside_convlog_also_takes_the_append_lock(engine: Engine) -> None:
    # Given a transaction that inserted a row with plain SQL and has not committed
    blocker = engine.connect()
    trans = blocker.begin()
    blocker.execute(text(
        "INSERT INTO events (event_id, fingerprint, type, agent, platform, account, chat, "
        "chat_type, occurred_at, tokens, payload) VALUES ('raw-1', '\\x00', 'session.reset', "
        "'main', 'discord', 'default', 'c', 'dm', now(), 0, '{}')"))
    # Then the append lock is held: another transaction cannot take it
    with engine.connect() as other:
        got = other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                            {"k": APPEND_LOCK_KEY}).scalar_one()
    assert got is False
    trans.rollback()
    blocker.close()
