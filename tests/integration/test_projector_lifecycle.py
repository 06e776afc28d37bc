"""The projector's lifecycle rules, a killed worker, and one projector at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import Engine, text

from eventlog.store import EventStore
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get, projector_lock_key
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection, snapshot


def sessions(engine: Engine, name: str = "default") -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        projection_id = get(conn, name).id
        return [tuple(r) for r in conn.execute(text(
            "SELECT key, epoch, started_by, message_count, participants, needs_summary "
            "FROM sessions WHERE projection_id = :p ORDER BY key, epoch"), {"p": projection_id})]


def test_replies_join_the_session_of_the_message_they_answer(store: EventStore,
                                                             engine: Engine) -> None:
    # Given a per-user policy and a question from alice in a shared channel
    new_projection(engine, "per-user", Policy(dimensions=("chat", "sender")))
    question = make_event(sender="alice", message_id="q1")
    # When the agent answers it and uses a tool for it
    store.append([question,
                  make_event(type="message.sent", sender="bot", message_id="a1",
                             reply_to="q1"),
                  make_event(type="tool.used", sender=None, message_id=None, reply_to="q1",
                             meta={"tool": "bash"})])
    Projector(engine, store, "per-user").catch_up()
    # Then all three are in alice's session, though the agent is not alice
    rows = sessions(engine, "per-user")
    assert len(rows) == 1 and rows[0][3] == 3 and rows[0][4] == ["alice"]


def test_reset_starts_a_new_epoch_and_the_old_session_stays(store: EventStore,
                                                            engine: Engine) -> None:
    store.append([make_event(), make_event(text="/reset"), make_event(),
                  make_event(type="session.reset", sender=None, message_id=None, text=None),
                  make_event()])
    Projector(engine, store).catch_up()
    rows = sessions(engine)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (0, "first message", 1), (1, "trigger", 1), (2, "session.reset", 1)]


def test_idle_reset_is_computed_from_occurred_at(store: EventStore, engine: Engine) -> None:
    new_projection(engine, "idle", Policy.model_validate(
        {"reset": {"mode": "idle", "idle_minutes": 60}}))
    store.append([
        make_event(occurred_at="2026-03-01T10:00:00Z", message_id="first"),
        make_event(type="message.sent", sender="bot", reply_to="first",
                   occurred_at="2026-03-01T12:30:00Z"),  # agent replies do not extend idle
        make_event(occurred_at="2026-03-01T10:59:00Z"),  # late arrival: not a reset
        make_event(occurred_at="2026-03-01T12:00:00Z"),  # 61 min after the last user message
    ])
    Projector(engine, store, "idle").catch_up()
    assert [(r[1], r[2], r[3]) for r in sessions(engine, "idle")] == [
        (0, "first message", 3), (1, "idle", 1)]


def test_compaction_flags_with_reason_and_summary_clears(store: EventStore,
                                                         engine: Engine) -> None:
    new_projection(engine, "tight", Policy.model_validate(
        {"compaction": {"summarize_threshold": 3}}))
    store.append([make_event() for _ in range(3)])
    Projector(engine, store, "tight").catch_up()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT session_id, summary_reason FROM sessions")).one()
    assert "3 messages since the last summary" in row.summary_reason
    store.append([make_event(type="summary.recorded", chat=None, chat_type=None, sender=None,
                             message_id=None, session_id=str(row.session_id), position=3,
                             text="they said hello three times")])
    Projector(engine, store, "tight").catch_up()
    assert sessions(engine, "tight")[0][5] is False


def test_only_one_projector_runs_per_projection(store: EventStore, engine: Engine) -> None:
    store.append([make_event() for _ in range(10)])
    with engine.connect() as holder:
        projection_id = get(holder, "default").id
        holder.execute(text("SELECT pg_advisory_lock(:k)"),
                       {"k": projector_lock_key(projection_id)})
        assert Projector(engine, store).catch_up().skipped
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
        holder.commit()
    assert Projector(engine, store).catch_up().events == 10


KILLABLE = """
import sys, time
from sqlalchemy import create_engine
from eventlog.store import EventStore
from projections.projector import Projector
engine = create_engine(sys.argv[1])
def slow(point, count):
    time.sleep(0.01)
print("started", flush=True)
Projector(engine, EventStore(engine), "default", batch_size=7, hook=slow).catch_up()
"""


def test_worker_killed_midway_resumes_without_loss_or_double_counting(
        store: EventStore, engine: Engine, database_url: str) -> None:
    # Given a log and a projector process that is killed with SIGKILL mid-run
    store.append([make_event(sender=f"u{i % 4}", text=f"t {i}") for i in range(400)])
    process = subprocess.Popen([sys.executable, "-c", KILLABLE, database_url],
                               stdout=subprocess.PIPE, env={**os.environ})
    assert process.stdout is not None and process.stdout.readline().strip() == b"started"
    # Killed once it has committed a batch (a loaded machine may take a while to get
    # there); at 7 events a batch and 30 ms of sleep per batch, the run is far from done.
    for _ in range(600):
        with engine.connect() as conn:
            if get(conn, "default").checkpoint > 0:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    with engine.connect() as conn:
        reached = get(conn, "default").checkpoint
    assert 0 < reached < 400, "the kill should land mid-run"
    # When a new projector resumes (once the server has noticed the killed client and
    # ended its backend, which released the projector lock), and a fresh projection is
    # built in one pass
    for _ in range(600):
        if not Projector(engine, store).catch_up().skipped:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the killed projector's lock was never released")
    new_projection(engine, "rebuild")
    Projector(engine, store, "rebuild").catch_up()
    # Then the resumed projection equals the rebuild
    assert snapshot(engine, "default") == snapshot(engine, "rebuild")


def test_a_message_id_reused_in_a_later_batch_keeps_its_first_place(store: EventStore,
                                                                   engine: Engine) -> None:
    # Given a message projected, then the same platform message id delivered again
    # under another gateway id (so the log accepts it as a different event)
    store.append([make_event(message_id="same", id="gw-1", text="first")])
    Projector(engine, store).catch_up()
    store.append([make_event(message_id="same", id="gw-2", text="second"),
                  make_event(type="message.sent", message_id="r", reply_to="same",
                             sender="bot", text="answer")])
    # When the projector catches up, and a rebuild is made in one pass
    Projector(engine, store).catch_up()
    new_projection(engine, "rebuild")
    Projector(engine, store, "rebuild").catch_up()
    # Then it is not stuck, and both agree on where everything went
    with engine.connect() as conn:
        assert get(conn, "default").checkpoint == store.horizon(conn)
    assert snapshot(engine, "default") == snapshot(engine, "rebuild")
