"""A few new events appended by one call that is its own transaction (migration 0018).

The common case of the gateway's turn: one to FEW events, no redaction among them, no
fencing check, and a log in which nothing was ever erased and no erasure watches
senders. Run in autocommit, the call takes the append lock and releases it as the
server finishes it, never across a round trip to a client that may be slow to send
COMMIT. Anything else goes through `eventlog.appending.append_locked`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from eventlog.appending import FEW, AppendResult, PreparedEvent, id_conflict
from eventlog.database import driver_rows, driver_statement

# Through the driver (`driver_rows`): a turn's append is one call of it.
_APPEND_NEW = driver_statement(text(
    "SELECT event_id, position FROM convlog_append_new(:ids, :fingerprints, :types, "
    ":agents, :platforms, :accounts, :spaces, :chats, :chat_types, :topics, :senders, "
    ":message_ids, :reply_tos, :occurred, CAST(:payloads AS jsonb[]), :texts, "
    ":sender_names, CAST(:metas AS jsonb[]))"))


def can_append_alone(batch: Sequence[PreparedEvent]) -> bool:
    """Whether `batch` may go through `append_alone`: a few events, no redaction (which
    erases at once, on the full path)."""
    return len(batch) <= FEW and all(item.event.type != "content.redacted" for item in batch)


def append_alone(conn: Connection, batch: list[PreparedEvent], result: AppendResult) -> bool:
    """Append `batch` (ids unique within it; `can_append_alone`) in one call that is its
    own transaction: `conn` must be in autocommit, so the append lock is held only while
    the server runs the call (migration 0018). False, with nothing written, when the log
    needs the full path (`append_locked`): some content was ever erased, or an erasure
    watches senders."""
    columns = [item.events_row(item.envelope_json or item.payload_json) for item in batch]
    values: dict[str, list[Any]] = {
        name: [row[i] for row in columns] for i, name in enumerate(
            ("ids", "fingerprints", "types", "agents", "platforms", "accounts", "spaces",
             "chats", "chat_types", "topics", "senders", "message_ids", "reply_tos",
             "occurred", "payloads"))}
    values["texts"] = [item.event.text for item in batch]
    values["sender_names"] = [item.event.sender_name for item in batch]
    values["metas"] = [item.meta_json for item in batch]
    inserted = {event_id: position for event_id, position in driver_rows(conn, _APPEND_NEW,
                                                                          values)}
    if None in inserted:
        return False
    others = [item for item in batch if item.event_id not in inserted]
    if others:  # ids the log held already: the same event again, or another under its id
        stored = {event_id: (bytes(fingerprint), position) for event_id, fingerprint, position
                  in conn.execute(text("SELECT event_id, fingerprint, position FROM events "
                                       "WHERE event_id = ANY(:ids)"),
                                  {"ids": [item.event_id for item in others]})}
        for item in others:
            fingerprint, position = stored[item.event_id]
            if fingerprint == item.fingerprint:
                result.duplicates += 1
                result.positions[item.event_id] = position
            else:
                result.rejected.append(id_conflict(item))
    if inserted:
        result.appended += len(inserted)
        result.positions.update(inserted)
        result.fresh.update(inserted)
        result.last_position = max(inserted.values())
    return True
