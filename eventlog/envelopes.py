"""Lean reads of the log for folding: envelope columns as plain tuples, no payload decoding.

A projector needs where an event was said and by whom, never what was said,
except the first characters of a user's text (a reset command) and two payload
fields of the two event types that carry them (a thread's parent message, a
summary's session and position). Reading only those, in binary, and building
named tuples instead of objects is what lets a fold keep up with the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection

from eventlog.partition import Partition

# Payload fields the fold reads, and the event types that carry them.
PAYLOAD_TYPES = ("thread.created", "summary.recorded")


class Envelope(NamedTuple):
    """One event as a fold reads it (the resolver's `Addressed` shape, plus position)."""

    position: int
    type: str
    agent: str
    platform: str
    account: str
    space: str | None
    chat: str | None
    chat_type: str | None
    topic: str | None
    sender: str | None
    message_id: str | None
    reply_to: str | None
    occurred_at: datetime
    text: str | None  # message.received only: the first characters, for reset commands
    fields: dict[str, Any] | None  # thread.created / summary.recorded only: the payload

    @property
    def payload(self) -> dict[str, Any]:
        return self.fields or {}


_SELECT = (
    "SELECT e.position, e.type, e.agent, e.platform, e.account, e.space, e.chat, "
    "e.chat_type, e.topic, e.sender, e.message_id, e.reply_to, e.occurred_at, "
    # An erased text keeps only a leading bot command, which a policy may fold as a reset.
    "CASE WHEN e.type = 'message.received' THEN left(coalesce(c.text, c.command), %(chars)s::int) "
    "END, "
    "CASE WHEN e.type IN ('thread.created', 'summary.recorded') THEN e.payload END "
    "FROM events e LEFT JOIN event_content c "
    "ON c.position = e.position AND e.type = 'message.received' "
    # The range again on the joined side: the planner merges the two tables in position
    # order, and without it scans content from the log's start to the batch (quadratic
    # over a build: 0.4 s a batch at 600k events).
    "AND c.position > %(after)s AND c.position <= %(upto)s "
    "WHERE e.position > %(after)s AND e.position <= %(upto)s {where}"
    "ORDER BY e.position LIMIT %(limit)s"
)


def read_envelopes(conn: Connection, after: int, limit: int, upto: int, *,
                   partition: Partition | None = None, types: Sequence[str] | None = None,
                   text_chars: int = 256) -> list[Envelope]:
    """Events with after < position <= upto, in order, at most `limit`, as envelopes.

    `upto` must be at or below the log's horizon (`EventStore.horizon`); with
    `partition`, only the events of that slice (the same hash `EventStore.read` uses);
    with `types`, only events of those types.
    """
    where = ""
    params: dict[str, Any] = {"after": after, "upto": upto, "limit": limit,
                              "chars": text_chars}
    if partition is not None:
        where = "AND " + partition.filter_sql.replace("%", "%%") + " "
    if types is not None:
        where += "AND e.type = ANY(%(types)s) "
        params["types"] = list(types)
    cursor = conn.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    try:
        cursor.execute(_SELECT.format(where=where), params)
        make = Envelope._make
        return [make(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
