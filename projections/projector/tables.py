"""The session tables' write side: the SQL that loads what a batch needs and writes what it made."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text

from projections.projector.state import Head, IndexedMessage, MessageRef, Session

Row = tuple[Any, ...]

_SESSION_COLUMNS = (
    "session_id", "key", "epoch", "started_by", "agent", "platform", "legacy_keys", "first_at",
    "last_at", "last_user_at", "first_position", "last_position", "message_count",
    "token_total", "running_total", "summary_position", "summarized_count",
    "summarized_tokens", "participants", "chats", "parent_session_id", "parent_position",
    "needs_summary", "summary_reason",
)
_MEMBER_COLUMNS = ("projection_id", "session_id", "position", "kind", "message_id", "sender",
                  "seq", "tokens", "running_tokens")
_INDEX_COLUMNS = ("projection_id", "agent", "platform", "account", "chat", "message_id",
                 "session_id", "position")
_CHANGE_COLUMNS = ("projection_id", "session_id", "target_position", "position", "change",
                  "tokens")
_SUMMARY_COLUMNS = ("projection_id", "session_id", "position", "covers_position", "tokens")
_ORIGIN_COLUMNS = ("projection_id", "thread_key", "parent_session_id", "parent_position")

_UPSERT_SESSION = (
    f"INSERT INTO sessions (projection_id, {', '.join(_SESSION_COLUMNS)}) VALUES (:p, "
    + ", ".join("CAST(:legacy_keys AS jsonb)" if c == "legacy_keys" else f":{c}"
                for c in _SESSION_COLUMNS)
    + ") ON CONFLICT (projection_id, session_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SESSION_COLUMNS if c != "session_id")
)
_UPSERT_HEAD = (
    "INSERT INTO session_heads (projection_id, key, session_id, epoch, started_by, "
    "last_user_at) VALUES (:p, :key, :session_id, :epoch, :started_by, :last_user_at) "
    "ON CONFLICT (projection_id, key) DO UPDATE SET session_id = EXCLUDED.session_id, "
    "epoch = EXCLUDED.epoch, started_by = EXCLUDED.started_by, "
    "last_user_at = EXCLUDED.last_user_at"
)
_INDEXED_MESSAGES = (
    "SELECT i.agent, i.platform, i.account, i.chat, i.message_id, i.session_id, "
    "       i.position, CASE WHEN c.change IN ('deleted', 'redacted') THEN 0 "
    "                        ELSE coalesce(c.tokens, m.tokens) END AS tokens "
    "  FROM unnest(CAST(:agents AS text[]), CAST(:platforms AS text[]), "
    "       CAST(:accounts AS text[]), CAST(:chats AS text[]), CAST(:ids AS text[])) "
    "       AS r(agent, platform, account, chat, message_id) "
    "  JOIN message_index i ON i.projection_id = :p AND i.agent = r.agent "
    "   AND i.platform = r.platform AND i.account = r.account AND i.chat = r.chat "
    "   AND i.message_id = r.message_id "
    "  JOIN session_members m ON m.projection_id = :p AND m.session_id = i.session_id "
    "   AND m.position = i.position "
    "  LEFT JOIN LATERAL (SELECT change, tokens FROM member_changes mc "
    "        WHERE mc.projection_id = :p AND mc.session_id = i.session_id "
    "          AND mc.target_position = i.position ORDER BY mc.position DESC LIMIT 1"
    "  ) c ON true"
)


# -- loading what earlier batches left ------------------------------------------------

def load_heads(conn: Connection, projection_id: int, keys: set[str]) -> dict[str, Head]:
    rows = conn.execute(text(
        "SELECT key, session_id, epoch, started_by, last_user_at FROM session_heads "
        "WHERE projection_id = :p AND key = ANY(:keys)"),
        {"p": projection_id, "keys": list(keys)})
    return {row.key: Head(row.key, row.session_id, row.epoch, row.started_by, row.last_user_at)
            for row in rows}


def load_index(conn: Connection, projection_id: int,
               refs: set[MessageRef]) -> dict[MessageRef, IndexedMessage]:
    """The indexed messages among `refs`, with their tokens as the context shows them now."""
    if not refs:
        return {}
    agents, platforms, accounts, chats, ids = (
        list(column) for column in zip(*refs, strict=True))
    rows = conn.execute(text(_INDEXED_MESSAGES),
                        {"p": projection_id, "agents": agents, "platforms": platforms,
                         "accounts": accounts, "chats": chats, "ids": ids})
    return {(row.agent, row.platform, row.account, row.chat, row.message_id):
            IndexedMessage(row.session_id, row.position, row.tokens) for row in rows}


def load_origins(conn: Connection, projection_id: int,
                 keys: set[str]) -> dict[str, tuple[uuid.UUID, int]]:
    rows = conn.execute(text(
        "SELECT thread_key, parent_session_id, parent_position FROM thread_origins "
        "WHERE projection_id = :p AND thread_key = ANY(:keys)"),
        {"p": projection_id, "keys": list(keys)})
    return {row.thread_key: (row.parent_session_id, row.parent_position) for row in rows}


def load_sessions(conn: Connection, projection_id: int,
                  ids: set[uuid.UUID]) -> dict[uuid.UUID, Session]:
    if not ids:
        return {}
    rows = conn.execute(text(
        "SELECT * FROM sessions WHERE projection_id = :p AND session_id = ANY(:ids)"),
        {"p": projection_id, "ids": list(ids)})
    sessions: dict[uuid.UUID, Session] = {}
    for row in rows:
        values = {name: getattr(row, name) for name in _SESSION_COLUMNS}
        values["participants"] = list(values["participants"])
        values["chats"] = list(values["chats"])
        sessions[row.session_id] = Session(**values)
    return sessions


def member_totals_upto(conn: Connection, projection_id: int, session_id: uuid.UUID,
                       position: int) -> tuple[int, int]:
    """(seq, running tokens) of the session's last stored member at or before `position`."""
    row = conn.execute(text(
        "SELECT seq, running_tokens FROM session_members WHERE projection_id = :p "
        "AND session_id = :s AND position <= :c ORDER BY position DESC LIMIT 1"),
        {"p": projection_id, "s": session_id, "c": position}).first()
    return (row.seq, row.running_tokens) if row else (0, 0)


# -- writing ----------------------------------------------------------------------------

def copy_new_rows(conn: Connection, *, members: list[Row], index: list[Row],
                  changes: list[Row], summaries: list[Row], origins: list[Row]) -> None:
    """COPY a batch's new rows; each row a tuple in its table's column order above."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for table, columns, rows in (("session_members", _MEMBER_COLUMNS, members),
                                 ("message_index", _INDEX_COLUMNS, index),
                                 ("member_changes", _CHANGE_COLUMNS, changes),
                                 ("session_summaries", _SUMMARY_COLUMNS, summaries),
                                 ("thread_origins", _ORIGIN_COLUMNS, origins)):
        if not rows:
            continue
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def upsert_sessions(conn: Connection, projection_id: int, sessions: Iterable[Session]) -> None:
    params = [{"p": projection_id, **{c: getattr(s, c) for c in _SESSION_COLUMNS},
               "legacy_keys": _json(s.legacy_keys)} for s in sessions]
    if params:
        conn.execute(text(_UPSERT_SESSION), params)


def upsert_heads(conn: Connection, projection_id: int, heads: Iterable[Head]) -> None:
    params = [{"p": projection_id, "key": h.key, "session_id": h.session_id, "epoch": h.epoch,
               "started_by": h.started_by, "last_user_at": h.last_user_at} for h in heads]
    if params:
        conn.execute(text(_UPSERT_HEAD), params)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
