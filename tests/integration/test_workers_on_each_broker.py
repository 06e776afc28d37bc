"""Workers on each broker: a burst of appends is projected, none missed, none twice."""

from __future__ import annotations

import threading
import time

import pytest
from dramatiq import Worker
from sqlalchemy import Engine

from eventlog.database import libpq_url
from eventlog.store import EventStore
from projections.projector import Projector
from projections.registry import get
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection, snapshot
from workers.actors.runner import Waker, projection_names
from workers.jobs import declare_actors, make_broker


def burst(store: EventStore, writers: int = 4, batches: int = 10) -> None:
    def write(w: int) -> None:
        for b in range(batches):
            store.append([make_event(sender=f"u{w}", text=f"w{w} b{b} e{i}") for i in range(7)])
            time.sleep(0.005)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_with_broker(broker_url: str | None, store: EventStore, engine: Engine) -> None:
    # Given workers on the broker and a waker listening for appends
    broker = make_broker(broker_url)
    broker.flush_all()
    jobs = declare_actors(broker)
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    waker = Waker(libpq_url(str(engine.url.render_as_string(hide_password=False))),
                  lambda: [jobs.catch_up.send(name) for name in projection_names(engine)], 0.5)
    listener = threading.Thread(target=waker.run)
    listener.start()
    try:
        # When several writers append a burst
        burst(store)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if get(conn, "default").checkpoint == store.horizon(conn):
                    break
            time.sleep(0.1)
    finally:
        waker.stopping.set()
        listener.join()
        worker.stop()
        broker.close()
    # Then the projection equals a rebuild: no event missed, none counted twice
    new_projection(engine, "rebuild")
    Projector(engine, store, "rebuild").catch_up()
    assert snapshot(engine, "default") == snapshot(engine, "rebuild")
    with engine.connect() as conn:
        assert get(conn, "default").checkpoint == store.horizon(conn) == 280


def test_in_process_workers(store: EventStore, engine: Engine, cli_env: str) -> None:
    run_with_broker(None, store, engine)


@pytest.mark.broker
def test_rabbitmq_workers(store: EventStore, engine: Engine, cli_env: str,
                          rabbitmq_url: str) -> None:
    run_with_broker(rabbitmq_url, store, engine)


@pytest.mark.broker
def test_redis_workers(store: EventStore, engine: Engine, cli_env: str, redis_url: str) -> None:
    run_with_broker(redis_url, store, engine)


def test_unknown_broker_scheme_is_refused() -> None:
    from eventlog.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="neither amqp:// nor redis://"):
        make_broker("kafka://localhost")
