"""Rescoping: build a projection beside the live one, activate it atomically, roll back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from eventlog.schema import APPEND_LOCK_KEY
from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.projector import BatchResult, Projector
from projections.registry import ProjectionInfo, activate, get


@dataclass(frozen=True)
class Status:
    name: str
    active: bool
    checkpoint: int
    horizon: int
    lag_events: int
    lag_seconds: float
    sessions: int
    tokens: int
    state: str


def status(engine: Engine, store: EventStore, name: str | None) -> Status:
    with engine.connect() as conn:
        info = get(conn, name)
        horizon = store.horizon(conn)
        lag_seconds = conn.execute(text(
            "SELECT coalesce(extract(epoch FROM now() - min(recorded_at)), 0) FROM events "
            "WHERE position = (SELECT min(position) FROM events WHERE position > :cp)"),
            {"cp": info.checkpoint}).scalar_one()
        sessions, tokens = conn.execute(text(
            "SELECT count(*), coalesce(sum(token_total), 0) FROM sessions "
            "WHERE projection_id = :p"), {"p": info.id}).one()
    lag = horizon - info.checkpoint
    state = "caught up" if lag == 0 else ("building" if info.caught_up_at is None else "behind")
    return Status(info.name, info.active, info.checkpoint, horizon, lag, float(lag_seconds),
                  int(sessions), int(tokens), state)


def build(engine: Engine, store: EventStore, name: str, *,
          on_batch: Callable[[BatchResult], None] | None = None,
          batch_size: int = 5_000) -> ProjectionInfo:
    """Project the whole log into `name`, from its checkpoint: a killed build resumes."""
    Projector(engine, store, name, batch_size=batch_size).catch_up(on_batch=on_batch)
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
        # Lock out appends for the instant of the check-and-switch, so "caught
        # up" cannot go stale between the check and the switch.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        if wait:
            Projector(engine, store, name).catch_up()
        info = get(conn, name)
        lag = store.horizon(conn) - info.checkpoint
        if lag == 0:
            return activate(conn, info)
    raise ProjectionError(
        f"{name!r} is {lag:,} events behind the log; run `convlog catch-up "
        f"--projection {name}` or activate with --wait", code="PROJECTION_BEHIND")
