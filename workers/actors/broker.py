"""Dramatiq actors: thin wrappers that catch a projection up with the log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.stub import StubBroker

from eventlog.errors import ConfigurationError
from workers.bootstrap import App, bootstrap
from workers.settings import WorkerSettings

QUEUE = "convlog"
log = logging.getLogger("convlog.worker")
CatchUpActor = dramatiq.Actor[[str], None]


def make_broker(url: str | None) -> dramatiq.Broker:
    """RabbitMQ for amqp://, Redis for redis://, an in-process broker when unset."""
    if not url:
        broker: dramatiq.Broker = StubBroker()
        broker.emit_after("process_boot")
        return broker
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        redis_broker: Callable[..., dramatiq.Broker] = RedisBroker  # untyped upstream
        return redis_broker(url=url)
    raise ConfigurationError(f"CONVLOG_BROKER_URL {url!r} is neither amqp:// nor redis://; "
                             "unset it to run the workers in-process")


_apps: dict[str, App] = {}
_apps_lock = threading.Lock()  # dramatiq runs several threads per process


def worker_app() -> App:
    """The worker process's settings, engine and store: made on its first message, then
    kept (the schema is checked once, not before every catch-up). Keyed by the settings,
    so a process whose environment changes (a test session) gets a fresh one."""
    settings = WorkerSettings()
    key = settings.model_dump_json()
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = bootstrap(settings)
    return app


def catch_up_projection(name: str) -> None:
    """Project everything appended so far into `name`; harmless when run twice at once.

    Errors that a retry cannot mend (strict mode's poison event, a lost lock)
    are logged, not raised: dramatiq would retry them for nothing, and the
    next tick starts a fresh catch-up anyway. Lost connections are raised, so
    dramatiq retries them with backoff.
    """
    from projections.errors import LockLost, PoisonEvent
    from projections.projector import BatchResult, Projector
    from workers.counting_pool import count_tokens, encoding_of

    app = worker_app()
    # New events' token counts first, in the projection's encoding (once per event and
    # encoding, whichever projection's actor gets there first; the others find them).
    encoding = encoding_of(app.engine, name)
    if encoding is not None:
        count_tokens(app.engine, encoding)

    def report(batch: BatchResult) -> None:
        for q in batch.quarantined:
            log.warning("projection %s: quarantined the event at position %d (%s: %s); "
                        "it went on without it, see `convlog projection show %s`",
                        name, q.position, q.code, q.error, name)

    try:
        result = Projector(app.engine, app.store, name,
                           strict=app.settings.strict_projection).catch_up(on_batch=report)
    except PoisonEvent as error:
        log.error("projection %s stopped (strict mode, CONVLOG_STRICT_PROJECTION): %s",
                  name, error)
        return
    except LockLost as error:
        log.warning("projection %s: %s", name, error)
        return
    if result.events or result.resumed_slices:
        log.info("projection %s: %d events in %.2fs, at position %d%s", name, result.events,
                 result.seconds, result.checkpoint,
                 f", {result.quarantined} quarantined" if result.quarantined else "")


def declare_actors(broker: dramatiq.Broker) -> CatchUpActor:
    """Bind the actor to `broker`; returns it for enqueueing with `.send(name)`."""
    dramatiq.set_broker(broker)
    return dramatiq.Actor(catch_up_projection, broker=broker, actor_name="catch_up_projection",
                          queue_name=QUEUE, priority=0,
                          options={"max_retries": 5, "min_backoff": 500, "max_backoff": 10_000})


def setup(settings: WorkerSettings | None = None) -> tuple[dramatiq.Broker, CatchUpActor]:
    broker = make_broker((settings or WorkerSettings()).broker_url)
    return broker, declare_actors(broker)
