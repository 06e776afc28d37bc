"""Read-your-writes: a projection brought up to a position, or a clear refusal within a bound.

A reader that must see a write (a context asked `after` a position, a turn that cannot
be answered ahead of the fold) asks `wait_until_projected`; a look-up of a session that
may not be folded yet (a turn answered ahead names it) asks `settle`, which brings the
projection up to the log's head. The edges map the refusals: PROJECTION_LAGGING is a
retryable answer (HTTP 503 with Retry-After), POSITION_PAST_HEAD a caller's mistake.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, text

from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.projector import Projector
from projections.registry import ProjectionInfo

# A process's own way to wait for a position (a server's follower, woken by notices):
# the checkpoint once reached, or None where it cannot tell (the caller polls).
Waiter = Callable[[ProjectionInfo, int, float], "int | None"]

_FIRST_PAUSE = 0.002
_LONGEST_PAUSE = 0.05


class ProjectionLagging(ProjectionError):
    """The projection did not reach a position in time; no stale answer is given."""

    code = "PROJECTION_LAGGING"


def checkpoint_of(engine: Engine, projection_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT checkpoint FROM projections WHERE id = :p"),
                                {"p": projection_id}).scalar_one())


def ensure_appended(store: EventStore, position: int) -> None:
    """A position the log has not handed out would be waited for in vain: refuse it."""
    head = store.horizon()
    if position > head:
        raise ProjectionError(f"position {position} is past the log's head ({head}); pass a "
                              "position an append returned", code="POSITION_PAST_HEAD")


def wait_until_projected(engine: Engine, store: EventStore, info: ProjectionInfo,
                         position: int, *, timeout: float, max_lag: int) -> int:
    """The projection's checkpoint once it is at or past `position`.

    A small lag is folded here, by the caller: the projector admits one runner per
    projection, so concurrent callers take turns and each batch serves all of them.
    When another process holds the projector (a worker, a build), the checkpoint is
    polled instead. Past `timeout`: ProjectionLagging, never a stale answer.
    """
    deadline = time.monotonic() + timeout
    checkpoint = info.checkpoint
    pause = _FIRST_PAUSE
    while True:
        if checkpoint >= position:
            return checkpoint
        if position - checkpoint <= max_lag:
            result = Projector(engine, store, info.name).catch_up()
            if not result.skipped and result.checkpoint >= position:
                return result.checkpoint
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProjectionLagging(
                f"projection {info.name!r} is at position {checkpoint}, behind {position}, "
                f"after {timeout:g}s; the answer would be stale, so none is given")
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, _LONGEST_PAUSE)
        checkpoint = checkpoint_of(engine, info.id)


def wait_for(engine: Engine, store: EventStore, info: ProjectionInfo, position: int, *,
             timeout: float, max_lag: int, waiter: Waiter | None = None) -> int:
    """`wait_until_projected`, woken by `waiter` where it can tell."""
    checkpoint = waiter(info, position, timeout) if waiter is not None else None
    if checkpoint is None:
        checkpoint = wait_until_projected(engine, store, info, position, timeout=timeout,
                                          max_lag=max_lag)
    return checkpoint


def settle(engine: Engine, store: EventStore, info: ProjectionInfo, *, timeout: float,
           max_lag: int) -> None:
    """The projection brought up to the log's head as it is now, if it is behind. A
    session a turn answered ahead of the fold (`projections.ahead`) is in the projection
    once this returns: a look-up that found nothing looks again."""
    head = store.horizon()
    if checkpoint_of(engine, info.id) < head:
        wait_until_projected(engine, store, info, head, timeout=timeout, max_lag=max_lag)
