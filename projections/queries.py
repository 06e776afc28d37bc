"""The read side a command line or server needs from projections, as typed values.

Callers in `workers/` format these; the SQL over the session tables stays in
`projections/`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from projections.registry import ProjectionInfo
from projections.resolver import Addressed, Resolution, compile_policy, session_id_for


@dataclass(frozen=True, slots=True)
class ProjectedResolution:
    """Where an event lands in a projection's current state, and why."""

    projection: str
    resolution: Resolution
    session_id: uuid.UUID
    epoch: int
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.resolution.as_dict(), "projection": self.projection,
                "epoch": self.epoch, "session_id": str(self.session_id),
                "reasons": self.reasons}


def resolve_in_projection(conn: Connection, info: ProjectionInfo,
                          event: Addressed) -> ProjectedResolution:
    """The session `event` would land in under `info`, knowing the epochs resets opened."""
    compiled = compile_policy(info.policy)
    reasons: list[str] = []
    session_id: uuid.UUID | None = None
    if event.reply_to and event.chat:
        found = conn.execute(text(
            "SELECT session_id FROM message_index WHERE projection_id = :p AND agent = :a "
            "AND platform = :pl AND account = :ac AND chat = :c AND message_id = :m"),
            {"p": info.id, "a": event.agent, "pl": event.platform, "ac": event.account,
             "c": event.chat, "m": event.reply_to}).scalar()
        if found is not None:
            session_id = uuid.UUID(str(found))
            reasons.append(f"answers message {event.reply_to}, which is in this session")
    resolution = compiled.resolve(event)
    head = conn.execute(text(
        "SELECT session_id, epoch, started_by FROM session_heads "
        "WHERE projection_id = :p AND key = :k"), {"p": info.id, "k": resolution.key}).first()
    epoch = head.epoch if head else 0
    if session_id is None:
        session_id = (uuid.UUID(str(head.session_id)) if head
                      else session_id_for(compiled, resolution.key, 0))
        reasons.extend(resolution.reasons)
        reasons.append(f"epoch {epoch}" + (f" (started by {head.started_by})" if head else
                                           " (no session yet: the first message opens it)"))
    return ProjectedResolution(info.name, resolution, session_id, epoch, reasons)


@dataclass(frozen=True, slots=True)
class ProjectionTotals:
    """How a projection groups the log: sessions, the largest, sharing between people."""

    sessions: int
    largest_tokens: int
    over_limit: int
    shared: int
    other_users_share: float


def projection_totals(conn: Connection, projection_id: int, *,
                      context_limit: int) -> ProjectionTotals:
    row = conn.execute(text(
        "SELECT count(*) AS sessions, max(token_total) AS largest, "
        "count(*) FILTER (WHERE token_total > :limit) AS over, "
        "count(*) FILTER (WHERE cardinality(participants) > 1) AS shared "
        "FROM sessions WHERE projection_id = :p"),
        {"p": projection_id, "limit": context_limit}).one()
    return ProjectionTotals(row.sessions, row.largest or 0, row.over, row.shared,
                            other_users_share(conn, projection_id))


def other_users_share(conn: Connection, projection_id: int) -> float:
    """Of the user-written tokens a person's session shows them, the share others wrote."""
    value = conn.execute(text("""
        WITH per_sender AS (
            SELECT session_id, sender, sum(tokens) AS t FROM session_members
             WHERE projection_id = :p AND kind = 'user' GROUP BY session_id, sender),
        per_session AS (
            SELECT session_id, sum(t) AS total FROM per_sender GROUP BY session_id)
        SELECT sum(s.t * (p.total - s.t)::float8 / p.total) / nullif(sum(s.t), 0)
          FROM per_sender s JOIN per_session p USING (session_id)
         WHERE p.total > 0"""), {"p": projection_id}).scalar()
    return float(value or 0.0)


@dataclass(frozen=True, slots=True)
class QuarantinedEvent:
    """An event a projection could not fold, kept with its error (see `projection show`)."""

    position: int
    code: str
    error: str
    quarantined_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "code": self.code, "error": self.error,
                "quarantined_at": self.quarantined_at.isoformat()}


def quarantined_count(conn: Connection, projection_id: int) -> int:
    """How many events the projection quarantined (0 for a projection that folded all)."""
    return int(conn.execute(text(
        "SELECT count(*) FROM quarantined_events WHERE projection_id = :p"),
        {"p": projection_id}).scalar_one())


def quarantined_events(conn: Connection, projection_id: int, *,
                       limit: int | None = None) -> list[QuarantinedEvent]:
    """The projection's quarantined events, in log order."""
    rows = conn.execute(text(
        "SELECT position, code, error, quarantined_at FROM quarantined_events "
        "WHERE projection_id = :p ORDER BY position LIMIT :limit"),
        {"p": projection_id, "limit": limit})
    return [QuarantinedEvent(r.position, r.code, r.error, r.quarantined_at) for r in rows]
