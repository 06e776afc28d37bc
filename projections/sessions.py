"""Sessions as every reader sees them: one type, one paged and filtered list, one session,
a session by id or key, the session of an event, where someone last wrote in one.

Typed values only; the CLI and the HTTP API shape them.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from eventlog.address import Address
from eventlog.database import driver_rows, driver_statement
from projections.errors import ContextError

_COLUMNS = (
    "session_id, key, agent, platform, epoch, started_by, message_count, token_total, "
    "participants, chats, first_at, last_at, first_position, last_position, needs_summary, "
    "summary_reason, legacy_keys, parent_session_id"
)
# A message as the index finds it: agent, platform, account, chat, message id.
MessageRef = tuple[str, str, str, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Session:
    """One session of a projection: the one shape every reader gets (CLI, HTTP, analysts'
    `session_overview` has the same columns)."""

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
            "first_at": self.first_at.isoformat(), "last_at": self.last_at.isoformat(),
            "first_position": self.first_position, "last_position": self.last_position,
            "needs_summary": self.needs_summary, "summary_reason": self.summary_reason,
            "legacy_keys": self.legacy_keys,
            "parent_session_id": str(self.parent_session_id) if self.parent_session_id else None,
        }


def _row(r: Any) -> Session:
    return Session(
        session_id=uuid.UUID(str(r.session_id)), key=r.key, agent=r.agent, platform=r.platform,
        epoch=r.epoch, started_by=r.started_by, message_count=r.message_count,
        token_total=r.token_total, participants=tuple(r.participants), chats=tuple(r.chats),
        first_at=r.first_at, last_at=r.last_at, first_position=r.first_position,
        last_position=r.last_position, needs_summary=r.needs_summary,
        summary_reason=r.summary_reason, legacy_keys=dict(r.legacy_keys or {}),
        parent_session_id=(uuid.UUID(str(r.parent_session_id)) if r.parent_session_id
                           else None))


def get_session(conn: Connection, projection_id: int, session_id: uuid.UUID) -> Session | None:
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
                  after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Session]:
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


# Made once (a turn asks on every call, the first through the driver: `driver_rows`).
_INDEXED_SESSION = driver_statement(text(
    "SELECT session_id FROM message_index WHERE projection_id = :p AND agent = :a "
    "AND platform = :pl AND account = :ac AND chat = :c AND message_id = :m "
    "AND position = :pos"))
_SPANNING_SESSION = text(
    "SELECT m.session_id FROM sessions s JOIN session_members m "
    "ON m.projection_id = s.projection_id AND m.session_id = s.session_id "
    "AND m.position = :pos WHERE s.projection_id = :p AND s.agent = :a "
    "AND s.first_position <= :pos AND s.last_position >= :pos LIMIT 1")


def session_of_event(conn: Connection, projection_id: int, position: int,
                     message: MessageRef | None = None) -> uuid.UUID | None:
    """The session the event at `position` is a member of in the projection, if any.

    The message index answers with one key probe; an event it does not hold (no
    message id, or one whose id came earlier) is found among the agent's sessions
    whose span covers the position. `message` is the event's (agent, platform, account,
    chat, message id) when the caller has it (else it is read from the log).
    """
    if message is None:
        row = conn.execute(text(
            "SELECT agent, platform, account, chat, message_id FROM events "
            "WHERE position = :pos"), {"pos": position}).first()
        if row is None:
            return None
        message = (row.agent, row.platform, row.account, row.chat, row.message_id)
    agent, platform, account, chat, message_id = message
    if chat is not None and message_id is not None:
        rows = driver_rows(conn, _INDEXED_SESSION, {
            "p": projection_id, "a": agent, "pl": platform, "ac": account, "c": chat,
            "m": message_id, "pos": position})
        if rows:
            return uuid.UUID(str(rows[0][0]))
    found = conn.execute(
        _SPANNING_SESSION,
        {"p": projection_id, "a": agent, "pos": position}).scalar()
    return None if found is None else uuid.UUID(str(found))


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
            return Address.of(row)
    return None


def find_session(conn: Connection, projection_id: int, ref: str) -> uuid.UUID:
    """A session id from an id or a key (the current epoch of that key)."""
    try:
        return uuid.UUID(ref)
    except ValueError:
        pass
    row = conn.execute(text(
        "SELECT session_id FROM session_heads WHERE projection_id = :p AND key = :k"),
        {"p": projection_id, "k": ref}).first()
    if row is None:
        raise ContextError(f"no session with id or key {ref!r}; see `convlog sessions`",
                           code="UNKNOWN_SESSION")
    return uuid.UUID(str(row.session_id))


def encode_cursor(session: Session) -> str:
    """Where a page ended, as an opaque token the next page starts after."""
    raw = json.dumps([session.last_at.isoformat(), str(session.session_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A cursor `encode_cursor` made, or a ContextError (INVALID_CURSOR)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_at, session_id = json.loads(base64.urlsafe_b64decode(padded))
        at = datetime.fromisoformat(last_at)
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, uuid.UUID(session_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ContextError("the cursor is not one a session list handed out; start again "
                           "without a cursor", code="INVALID_CURSOR") from None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of sessions, and the cursor of the next (None: this is the last)."""

    sessions: list[Session]
    next_cursor: str | None


def list_sessions(conn: Connection, projection_id: int, wanted: SessionFilter, *,
                  cursor: str | None = None, limit: int = 50) -> Page:
    """A page of sessions, most recently active first (see `page_sessions`)."""
    if limit <= 0:
        return Page([], None)
    after = decode_cursor(cursor) if cursor else None
    rows = page_sessions(conn, projection_id, wanted, after=after, limit=limit + 1)
    following = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(rows[:limit], following)
