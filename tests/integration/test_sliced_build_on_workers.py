"""`convlog projection create --slices N`: the slices folded by workers through the broker,
or by the build itself when no worker takes them. (Workers on other hosts, one of them
killed: test_workers_on_several_hosts.py.)"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from dramatiq import Worker
from sqlalchemy import Engine

from eventlog.events import Event
from eventlog.store import EventStore
from projections.distributed import build_on_workers
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from tests.fixtures.projections import new_projection, snapshot
from workers.cli.main import main
from workers.jobs import declare_actors, make_broker
from workers.tools.workload import generate

PER_USER = {"name": "per-user", "dimensions": ["chat", "sender"]}


@pytest.fixture
def log(store: EventStore) -> EventStore:
    store.append([Event.model_validate(e) for e in generate(3_000, seed=5)])
    return store


def assert_equals_a_single_build(engine: Engine, store: EventStore, name: str) -> None:
    new_projection(engine, "single", Policy.model_validate(PER_USER))
    Projector(engine, store, "single").catch_up()
    with engine.connect() as conn:
        assert get(conn, name).checkpoint == store.horizon(conn)
    assert snapshot(engine, name) == snapshot(engine, "single")


@pytest.mark.slow
@pytest.mark.broker
def test_create_with_slices_is_folded_by_the_workers(
        log: EventStore, engine: Engine, cli_env: str, rabbitmq_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a worker taking jobs from RabbitMQ
    monkeypatch.setenv("CONVLOG_BROKER_URL", rabbitmq_url)
    broker = make_broker(rabbitmq_url)
    broker.flush_all()
    declare_actors(broker)
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    policy = tmp_path / "per-user.json"
    policy.write_text(json.dumps(PER_USER), encoding="utf-8")
    try:
        # When a projection is created in 3 slices handed to the workers
        done = main(["projection", "create", "sliced", "--policy", str(policy),
                     "--slices", "3", "--quiet"])
    finally:
        worker.stop()
        broker.close()
    # Then the workers folded them, and the projection equals a single build
    assert done == 0
    err = capsys.readouterr().err
    assert "in 3 slices on the workers" in err and "folding" not in err
    assert_equals_a_single_build(engine, log, "sliced")


@pytest.mark.slow
@pytest.mark.broker
def test_slices_no_worker_takes_are_folded_by_the_build_itself(
        log: EventStore, engine: Engine, cli_env: str, rabbitmq_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a broker and no worker running
    broker = make_broker(rabbitmq_url)
    broker.flush_all()
    jobs = declare_actors(broker)
    try:
        # When a sliced build is handed out
        with caplog.at_level(logging.WARNING, logger="convlog.projections"):
            built = build_on_workers(engine, log, "sliced", 3, jobs.fold_slice.send,
                                     policy=Policy.model_validate(PER_USER), batch_size=500,
                                     stall_seconds=0.5, poll=0.1, deadline=60)
    finally:
        broker.flush_all()  # the jobs nobody took
        broker.close()
    # Then, after sending the slices once more, it folds them itself
    said = [r.getMessage() for r in caplog.records]
    assert "sending slices 0, 1, 2 again" in said[0] and "folding slices 0, 1, 2 here" in said[1]
    assert (built.slices, built.folded_here) == (3, 3)
    assert_equals_a_single_build(engine, log, "sliced")


def test_slices_without_a_broker_are_refused(
        log: EventStore, cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CONVLOG_BROKER_URL", raising=False)
    policy = tmp_path / "per-user.json"
    policy.write_text(json.dumps(PER_USER), encoding="utf-8")
    refused = main(["projection", "create", "sliced", "--policy", str(policy), "--slices", "2"])
    assert refused == 2 and "--slices needs CONVLOG_BROKER_URL" in capsys.readouterr().err
