"""The read side a network edge needs beyond `queries`: one session, filtered pages, lookups.

Typed values only; the HTTP layer in `workers/` shapes them into responses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

_COLUMNS = (
    "session_id, key, agent, platform, epoch, started_by, message_count, token_total, "
    "participants, chats, first_at, last_at, first_position, last_position, needs_summary, "
    "summary_reason, legacy_keys, parent_session_id"
)


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session of a projection, with what scoping and paging need (agent, last_at)."""

    session_id: uuid.UUID
    key: str
    agent: str
    platform: str
    epoch: int
    started_by: str
    message_count: int
    token_total: int
    participants: tuple[str, ...]
    chats: tuple[str, ...]
    first_at: datetime
    last_at: datetime
    first_position: int
    last_position: int
    needs_summary: bool
    summary_reason: str | None
    legacy_keys: dict[str, str]
    parent_session_id: uuid.UUID | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": str(self.session_id), "key": self.key, "agent": self.agent,
            "platform": self.platform, "epoch": self.epoch, "started_by": self.started_by,
            "messages": self.message_count, "tokens": self.token_total,
            "participants": list(self.participants), "chats": list(self.chats),
            "first_at": self.first_at, "last_at": self.last_at,
            "first_position": self.first_position, "last_position": self.last_position,
            "needs_summary": self.needs_summary, "summary_reason": self.summary_reason,
            "legacy_keys": self.legacy_keys,
            "parent_session_id": str(self.parent_session_id) if self.parent_session_id else None,
        }


def _row(r: Any) -> SessionRow:
    return SessionRow(
        session_id=uuid.UUID(str(r.session_id)), key=r.key, agent=r.agent, platform=r.platform,
        epoch=r.epoch, started_by=r.started_by, message_count=r.message_count,
        token_total=r.token_total, participants=tuple(r.participants), chats=tuple(r.chats),
        first_at=r.first_at, last_at=r.last_at, first_position=r.first_position,
        last_position=r.last_position, needs_summary=r.needs_summary,
        summary_reason=r.summary_reason, legacy_keys=dict(r.legacy_keys or {}),
        parent_session_id=(uuid.UUID(str(r.parent_session_id)) if r.parent_session_id
                           else None))


def session_row(conn: Connection, projection_id: int, session_id: uuid.UUID) -> SessionRow | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM sessions WHERE projection_id = :p "
                            "AND session_id = :s"), {"p": projection_id, "s": session_id}).first()
    return None if row is None else _row(row)


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions a page holds; `agents` None means every agent."""

    agents: list[str] | None = None
    key_prefix: str | None = None
    participant: str | None = None
    needs_summary: bool | None = None


def page_sessions(conn: Connection, projection_id: int, wanted: SessionFilter, *,
                  after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[SessionRow]:
    """The most recently active sessions first, from after the (last_at, session_id) given.

    Keyset paging: a page costs the same however deep it is, and sessions that become
    active while a client pages move ahead of its cursor instead of shifting the pages.
    """
    where = ["projection_id = :p"]
    params: dict[str, Any] = {"p": projection_id, "limit": limit}
    if wanted.agents is not None:
        where.append("agent = ANY(:agents)")
        params["agents"] = wanted.agents
    if wanted.key_prefix:
        where.append("starts_with(key, :prefix)")
        params["prefix"] = wanted.key_prefix
    if wanted.participant:
        where.append(":participant = ANY(participants)")
        params["participant"] = wanted.participant
    if wanted.needs_summary is not None:
        where.append("needs_summary = :needs")
        params["needs"] = wanted.needs_summary
    if after is not None:
        where.append("(last_at, session_id) < (:after_at, :after_id)")
        params["after_at"], params["after_id"] = after
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM sessions WHERE {' AND '.join(where)} "
                             "ORDER BY last_at DESC, session_id DESC LIMIT :limit"), params)
    return [_row(r) for r in rows]


def session_of_event(conn: Connection, projection_id: int, position: int, *, agent: str,
                     platform: str, account: str, chat: str | None,
                     message_id: str | None) -> uuid.UUID | None:
    """The session the event at `position` is a member of in the projection, if any.

    The message index answers with one key probe; an event it does not hold (no
    message id, or one whose id came earlier) is found among the agent's sessions
    whose span covers the position.
    """
    if chat is not None and message_id is not None:
        found = conn.execute(text(
            "SELECT session_id FROM message_index WHERE projection_id = :p AND agent = :a "
            "AND platform = :pl AND account = :ac AND chat = :c AND message_id = :m "
            "AND position = :pos"),
            {"p": projection_id, "a": agent, "pl": platform, "ac": account, "c": chat,
             "m": message_id, "pos": position}).scalar()
        if found is not None:
            return uuid.UUID(str(found))
    found = conn.execute(text(
        "SELECT m.session_id FROM sessions s JOIN session_members m "
        "ON m.projection_id = s.projection_id AND m.session_id = s.session_id "
        "AND m.position = :pos WHERE s.projection_id = :p AND s.agent = :a "
        "AND s.first_position <= :pos AND s.last_position >= :pos LIMIT 1"),
        {"p": projection_id, "a": agent, "pos": position}).scalar()
    return None if found is None else uuid.UUID(str(found))


@dataclass(frozen=True, slots=True)
class Address:
    """Where someone last wrote in a session: enough to append a session.reset there."""

    agent: str
    platform: str
    account: str
    space: str | None
    chat: str
    chat_type: str
    topic: str | None
    sender: str | None


def last_user_address(conn: Connection, projection_id: int,
                      session_id: uuid.UUID) -> Address | None:
    """The address of the session's newest member written by a person (else by anyone)."""
    # Newest first along the primary key, so a long session is not sorted to find it.
    for only_people in (True, False):
        row = conn.execute(text(
            "SELECT e.agent, e.platform, e.account, e.space, e.chat, e.chat_type, e.topic, "
            "e.sender FROM session_members m JOIN events e ON e.position = m.position "
            "WHERE m.projection_id = :p AND m.session_id = :s AND e.chat IS NOT NULL "
            + ("AND m.kind = 'user' " if only_people else "")
            + "ORDER BY m.position DESC LIMIT 1"), {"p": projection_id, "s": session_id}).first()
        if row is not None:
            return Address(row.agent, row.platform, row.account, row.space, row.chat,
                           row.chat_type, row.topic, row.sender)
    return None


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


def projection_lags(conn: Connection) -> list[ProjectionLag]:
    """Every projection's lag: one statement, cheap enough for every health probe and scrape."""
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
         ORDER BY p.id"""))
    return [ProjectionLag(r.name, bool(r.active), int(r.checkpoint), int(r.head),
                          max(float(r.lag_seconds), 0.0), int(r.quarantined)) for r in rows]
