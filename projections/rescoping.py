"""Rescoping: build a projection beside the live one, activate it atomically, roll back."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine

from eventlog.appending import hold_appends
from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.projector import BATCH_SIZE, BatchResult, Projector
from projections.registry import (
    ProjectionInfo,
    activate,
    describe_holders,
    get,
    previous_projection,
    rollback,
)


def build(engine: Engine, store: EventStore, name: str, *,
          on_batch: Callable[[BatchResult], None] | None = None,
          batch_size: int = BATCH_SIZE, strict: bool = False) -> ProjectionInfo:
    """Project the whole log into `name`, from its checkpoint: a killed build resumes.

    That includes a parallel build that was killed: its slices are finished
    here one after the other. Refuses (PROJECTION_BUSY) while another process
    builds or catches up the same projection, naming it.
    """
    result = Projector(engine, store, name, batch_size=batch_size,
                       strict=strict).catch_up(on_batch=on_batch)
    if result.skipped:
        raise ProjectionError(
            f"{name!r} is being built or caught up by {describe_holders(list(result.holders))}"
            f" (`convlog worker`, or a build in another terminal); follow it with `convlog "
            f"projection show {name}`, or stop that process and run this again",
            code="PROJECTION_BUSY")
    with engine.connect() as conn:
        return get(conn, name)


def activate_when_caught_up(engine: Engine, store: EventStore, name: str, *,
                            wait: bool = False) -> ProjectionInfo | None:
    """Switch gateways to `name` in one transaction; refuses a projection that lags.

    With `wait`, the projection is caught up first, then once more while appends
    are held back by the append lock, so the switch cannot chase a moving head.
    """
    if wait:
        Projector(engine, store, name).catch_up()
    with engine.begin() as conn:
        _hold_appends(conn)
        if wait:
            Projector(engine, store, name).catch_up()
        info = get(conn, name)
        lag = store.horizon(conn) - info.checkpoint
        if lag == 0:
            return activate(conn, info)
    raise ProjectionError(
        f"{name!r} is {lag:,} events behind the log; run `convlog catch-up "
        f"--projection {name}` or activate with --wait", code="PROJECTION_BEHIND")


def rollback_when_caught_up(engine: Engine, store: EventStore, *, wait: bool = False,
                            force: bool = False) -> tuple[str, str]:
    """Swap back to the previous projection; (from, to). Refuses one that lags, as activate.

    A previous projection nobody kept catching up would serve stale sessions;
    `force` switches anyway, `wait` catches it up first (under the append lock
    for the last step, as activate does).
    """
    with engine.connect() as conn:
        previous = previous_projection(conn)
    if previous is not None and wait and not force:
        Projector(engine, store, previous.name).catch_up()
    with engine.begin() as conn:
        if previous is not None and not force:
            _hold_appends(conn)
            if wait:
                Projector(engine, store, previous.name).catch_up()
            lag = store.horizon(conn) - get(conn, previous.name).checkpoint
            if lag:
                raise ProjectionError(
                    f"{previous.name!r} is {lag:,} events behind the log; run `convlog "
                    f"catch-up --projection {previous.name}` first, roll back with --wait, "
                    "or with --force to serve it as it is", code="PROJECTION_BEHIND")
        return rollback(conn)


def _hold_appends(conn: Connection) -> None:
    # Lock out appends for the instant of the check-and-switch, so "caught up"
    # cannot go stale between the check and the switch.
    hold_appends(conn)
