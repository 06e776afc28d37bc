"""Events an operator or agent records about a session rather than in its chat: a summary
of the session up to a position, and a reset (a new epoch, as /reset typed in the chat
would start). Each is built here from what the projection knows of the session; an
edge appends the result as it appends any event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.sessions import Session, last_user_address


def summary_event(conn: Connection, store: EventStore, session: Session, covers_position: int,
                  text: str, event_id: str | None) -> dict[str, Any]:
    """A summary.recorded event of `session` covering it up to `covers_position`."""
    if not session.first_position <= covers_position <= session.last_position:
        raise ProjectionError(
            f"covers_position {covers_position} is outside the session "
            f"({session.first_position} to {session.last_position})",
            code="INVALID_SUMMARY_POSITION")
    # The covered event's time: a retry builds the same event, so it is a duplicate.
    at = store.occurred_at(conn, covers_position) or session.last_at
    data: dict[str, Any] = {
        "type": "summary.recorded", "agent": session.agent, "platform": session.platform,
        "occurred_at": at.isoformat(), "session_id": str(session.session_id),
        "position": covers_position, "text": text}
    if event_id is not None:
        data["id"] = event_id
    return data


def reset_event(conn: Connection, store: EventStore, projection_id: int, session: Session,
                event_id: str | None) -> dict[str, Any] | tuple[str, int]:
    """A session.reset event at the address of the session's last user message; or, when
    `event_id` names a reset the log already holds, that event's (id, position)."""
    if event_id is not None:
        earlier = store.find(conn, event_id)
        if earlier is not None and earlier[1] == "session.reset":
            return event_id, earlier[0]
    address = last_user_address(conn, projection_id, session.session_id)
    if address is None:
        raise ProjectionError(f"session {session.session_id} has no message with an address "
                              "to reset at", code="NOTHING_TO_RESET")
    data: dict[str, Any] = {**address.as_dict(), "type": "session.reset",
                            "occurred_at": datetime.now(UTC).isoformat(), "id": event_id}
    return {k: v for k, v in data.items() if v is not None}
