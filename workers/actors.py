"""Dramatiq actors: thin wrappers that catch a projection up with the log."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq.brokers.stub import StubBroker

from eventlog.convlog_errors import ConfigurationError
from workers.bootstrap import bootstrap
from workers.settings import WorkerSettings

QUEUE = "convlog"
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


def catch_up_projection(name: str) -> None:
    """Project everything appended so far into `name`; harmless when run twice at once."""
    from projections.projector import Projector

    app = bootstrap()
    Projector(app.engine, app.store, name).catch_up()


def declare_actors(broker: dramatiq.Broker) -> CatchUpActor:
    """Bind the actor to `broker`; returns it for enqueueing with `.send(name)`."""
    dramatiq.set_broker(broker)
    return dramatiq.Actor(catch_up_projection, broker=broker, actor_name="catch_up_projection",
                          queue_name=QUEUE, priority=0,
                          options={"max_retries": 5, "min_backoff": 500, "max_backoff": 10_000})


def setup(settings: WorkerSettings | None = None) -> tuple[dramatiq.Broker, CatchUpActor]:
    broker = make_broker((settings or WorkerSettings()).broker_url)
    return broker, declare_actors(broker)
