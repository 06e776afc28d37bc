"""Jobs: the work an edge hands off, as dramatiq actors, run by a worker and never by the
request or command that asked for it.

- `catch_up_projection(name)`: fold what was appended since the projection's checkpoint.
- `build_projection(name, activate, context)`: build a new projection (the API's `POST
  /v1/projections`), then activate it once caught up if asked.
- `fold_slice(name, slice, batch_size, strict)`: fold one slice of a sliced build that
  `convlog projection create --slices N` hands out (`projections.distributed`).

With `CONVLOG_BROKER_URL`, `convlog worker` processes run them. Without, the process
that enqueues them runs an in-process worker of its own, started once with the
process (`start_in_process`), never per request. A job finds its database through
`context`, the key of a deployment bound in this process (an API server's), else
the worker's own settings.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.stub import StubBroker

from eventlog.errors import ConfigurationError
from workers.bootstrap import App, bootstrap
from workers.settings import WorkerSettings

QUEUE = "convlog"
log = logging.getLogger("convlog.worker")
CatchUpActor = dramatiq.Actor[[str], None]
BuildActor = dramatiq.Actor[[str, bool, str | None], None]
SliceActor = dramatiq.Actor[[str, int, int, bool], None]
SLICE_HOLDER_WAIT = 30.0  # seconds a slice job waits for a slice another process holds


@dataclass(frozen=True)
class Jobs:
    """The actors of one broker, to enqueue with `.send(...)`."""

    catch_up: CatchUpActor
    build: BuildActor
    fold_slice: SliceActor


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
_bound: dict[str, App] = {}  # deployments of this process that enqueue jobs in-process


def bind(app: App) -> str:
    """Make `app` the database of the jobs this process enqueues with the returned key."""
    key = uuid.uuid4().hex
    _bound[key] = app
    return key


def unbind(key: str) -> None:
    _bound.pop(key, None)


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


def build_projection(name: str, activate: bool, context: str | None = None) -> None:
    """Build `name` from its checkpoint (a new projection: the whole log), then activate it
    when caught up if asked. Never retried by dramatiq: a build resumes from its
    checkpoint, on the workers' next catch-up or a repeated request."""
    from projections.rescoping import activate_when_caught_up, build

    app = _bound.get(context or "") or worker_app()
    try:
        build(app.engine, app.store, name)
        if activate:
            activate_when_caught_up(app.engine, app.store, name, wait=True)
    except Exception:
        log.exception("building projection %s stopped; it resumes from its checkpoint", name)


def fold_slice(name: str, index: int, batch_size: int, strict: bool) -> None:
    """Fold slice `index` of the sliced build of `name` from its checkpoint; nothing when it
    is done, merged, or folded by another process. Lost connections are raised, so
    dramatiq retries them; a worker that dies mid-slice never acknowledges the job, so
    the broker hands it to another worker, which resumes the slice."""
    from projections.distributed import fold_slice as fold
    from projections.errors import LockLost, PoisonEvent

    app = worker_app()
    try:
        result = fold(app.engine, app.store, name, index, batch_size=batch_size,
                      strict=strict or app.settings.strict_projection,
                      wait_for_holder=SLICE_HOLDER_WAIT)
    except PoisonEvent as error:
        log.error("projection %s, slice %d stopped (strict mode): %s", name, index, error)
        return
    except LockLost as error:
        log.warning("projection %s, slice %d: %s", name, index, error)
        return
    if result is not None and not result.skipped:
        log.info("projection %s: slice %d folded, %d events in %.2fs%s", name, index,
                 result.events, result.seconds,
                 f", {result.quarantined} quarantined" if result.quarantined else "")


def declare_actors(broker: dramatiq.Broker) -> Jobs:
    """Bind the jobs to `broker`; returns them for enqueueing with `.send(...)`."""
    dramatiq.set_broker(broker)
    catch_up: CatchUpActor = dramatiq.Actor(
        catch_up_projection, broker=broker, actor_name="catch_up_projection",
        queue_name=QUEUE, priority=0,
        options={"max_retries": 5, "min_backoff": 500, "max_backoff": 10_000})
    build: BuildActor = dramatiq.Actor(
        build_projection, broker=broker, actor_name="build_projection", queue_name=QUEUE,
        priority=10, options={"max_retries": 0, "time_limit": 24 * 3_600_000})
    # Retried on a lost connection (it resumes from the slice's checkpoint); a slice of a
    # large build may fold for hours.
    slice_job: SliceActor = dramatiq.Actor(
        fold_slice, broker=broker, actor_name="fold_slice", queue_name=QUEUE, priority=10,
        options={"max_retries": 5, "min_backoff": 500, "max_backoff": 10_000,
                 "time_limit": 24 * 3_600_000})
    return Jobs(catch_up, build, slice_job)


def setup(settings: WorkerSettings | None = None) -> tuple[dramatiq.Broker, Jobs]:
    broker = make_broker((settings or WorkerSettings()).broker_url)
    return broker, declare_actors(broker)


@dataclass(frozen=True)
class QueuedJobs:
    """A deployment's jobs: enqueueing a build names the database it is for."""

    jobs: Jobs
    context: str

    def build(self, name: str, activate: bool) -> None:
        self.jobs.build.send(name, activate, self.context)


def start_in_process(broker: dramatiq.Broker, threads: int = 1) -> dramatiq.Worker | None:
    """A worker in this process for a broker that lives in it (no CONVLOG_BROKER_URL);
    None for a real broker, whose jobs `convlog worker` processes take."""
    if not isinstance(broker, StubBroker):
        return None
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker
