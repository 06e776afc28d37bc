"""`convlog worker`: dramatiq workers, woken by appends and by a periodic tick."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

import psycopg
from dramatiq import Worker

from eventlog.database import libpq_url
from eventlog.retention import DailyRetention
from eventlog.schema import EVENTS_CHANNEL
from eventlog.search_index import keep_current
from projections.registry import list_projections
from projections.simulate import is_temporary
from workers.bootstrap import bootstrap
from workers.jobs import setup

log = logging.getLogger("convlog.worker")


def projection_names(engine: object) -> list[str]:
    """The projections workers keep caught up: not a simulation's temporary candidates,
    which their simulation builds and drops itself."""
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return [p.name for p in list_projections(conn) if not is_temporary(p.name)]


class Waker:
    """Enqueues catch-ups after appends commit (LISTEN/NOTIFY) and on every tick.

    The log is the source of truth: a lost notification or broker message only
    delays projection until the next tick, because a catch-up reads from the
    projection's own checkpoint, whatever woke it.
    """

    def __init__(self, url: str, enqueue: Callable[[], object], tick_seconds: float) -> None:
        self.url = url
        self.enqueue = enqueue
        self.tick_seconds = tick_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except psycopg.OperationalError as error:
                log.warning("lost the database connection (%s); retrying", error)
                self.stopping.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            self.enqueue()
            last_tick = time.monotonic()
            while not self.stopping.is_set():
                woke = any(True for _ in conn.notifies(timeout=min(self.tick_seconds, 1.0),
                                                       stop_after=1000))
                now = time.monotonic()
                if woke or now - last_tick >= self.tick_seconds:
                    # Coalesced: one enqueue per projection per wake-up, however many appends.
                    self.enqueue()
                    last_tick = now


def run_workers(*, threads: int = 2, tick_seconds: float = 5.0) -> int:
    # The worker's log is where quarantined events, lost locks and strict-mode stops
    # are reported: one line each on stderr, convlog's own at INFO.
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("convlog").setLevel(logging.INFO)
    app = bootstrap()
    broker, jobs = setup(app.settings)
    worker = Worker(broker, worker_threads=threads, worker_timeout=1000)
    worker.start()

    rules = app.settings.retention_rules  # applied once a day when set
    retention = DailyRetention(app.engine, rules, app.settings.encoding,
                               max_share=app.settings.retention_max_share) if rules else None

    def enqueue_all() -> None:
        for name in projection_names(app.engine):
            jobs.catch_up.send(name)
        keep_current(app.engine)  # the search index's lag stays bounded
        if retention is not None:
            retention.tick()

    waker = Waker(libpq_url(app.engine.url.render_as_string(hide_password=False)),
                  enqueue_all, tick_seconds)
    signal.signal(signal.SIGTERM, lambda *_: waker.stopping.set())
    print(f"convlog worker: {threads} threads on {type(broker).__name__}; "
          "Ctrl-C to stop", flush=True)
    try:
        waker.run()
    except KeyboardInterrupt:
        pass
    finally:
        waker.stopping.set()
        worker.stop()
        broker.close()
    return 0
