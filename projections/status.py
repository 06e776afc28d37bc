"""How far each projection is behind the log, and a projection's whole status: one
computation of lag for `projection show`, the API's projections, health and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from projections.registry import get


@dataclass(frozen=True, slots=True)
class ProjectionLag:
    """How far a projection is behind the log, in events and in seconds, and what it set aside."""

    name: str
    active: bool
    checkpoint: int
    head: int
    lag_seconds: float
    quarantined: int

    @property
    def lag_events(self) -> int:
        return max(self.head - self.checkpoint, 0)


def projection_lags(conn: Connection, names: Sequence[str] | None = None) -> list[ProjectionLag]:
    """Every projection's lag (or those named): one statement, cheap enough for every
    health probe and scrape. The seconds are the age of the oldest event not folded."""
    rows = conn.execute(text("""
        SELECT p.name, coalesce(a.projection_id = p.id, false) AS active, p.checkpoint, h.head,
               coalesce(extract(epoch FROM now() - (
                   SELECT e.recorded_at FROM events e WHERE e.position > p.checkpoint
                    ORDER BY e.position LIMIT 1)), 0) AS lag_seconds,
               (SELECT count(*) FROM quarantined_events q WHERE q.projection_id = p.id)
                   AS quarantined
          FROM projections p
          LEFT JOIN active_projection a ON true
         CROSS JOIN (SELECT coalesce(max(position), 0) AS head FROM events) h
         WHERE CAST(:names AS text[]) IS NULL OR p.name = ANY(CAST(:names AS text[]))
         ORDER BY p.id"""), {"names": None if names is None else list(names)})
    return [ProjectionLag(r.name, bool(r.active), int(r.checkpoint), int(r.head),
                          max(float(r.lag_seconds), 0.0), int(r.quarantined)) for r in rows]


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
    quarantined: int = 0
    unmerged_slices: int = 0  # an interrupted parallel build: `projection create NAME` resumes


def status(engine: Engine, name: str | None) -> Status:
    """A projection's lag, size and state (default: the active one)."""
    with engine.connect() as conn:
        info = get(conn, name)
        (lag,) = projection_lags(conn, [info.name])
        sessions, tokens = conn.execute(text(
            "SELECT count(*), coalesce(sum(token_total), 0) FROM sessions "
            "WHERE projection_id = :p"), {"p": info.id}).one()
        slices = conn.execute(text("SELECT count(*) FROM projection_slices "
                                   "WHERE projection_id = :p"), {"p": info.id}).scalar_one()
    state = ("caught up" if lag.lag_events == 0
             else ("building" if info.caught_up_at is None else "behind"))
    if slices:
        state = f"parallel build in {slices} slices (resume: projection create {info.name})"
    return Status(info.name, info.active, lag.checkpoint, lag.head, lag.lag_events,
                  lag.lag_seconds, int(sessions), int(tokens), state, lag.quarantined,
                  int(slices))
