"""Hermes agent's store: `state.db` (SQLite, read-only), `sessions/sessions.json` and the
per-session JSONL transcripts.

Formats read (Hermes `hermes_state.py`, `gateway/session.py`, `gateway/run.py`): the
columns of `sessions` and `messages` differ by schema version, so they are looked up
before reading; `parent_session_id` with `end_reason = compression` chains sessions into
one history whose summary opens the successor (`[CONTEXT COMPACTION ...`, older
`[CONTEXT SUMMARY]:`). JSONL transcript times are naive local times. In shared group
sessions the only per-message sender is the `[user_name] ` prefix.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from projections.gateways.hermes import keys
from projections.gateways.sqlite_store import first_row, read_sqlite, table_columns, table_rows
from workers.gateways.lines import json_file, json_lines
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import MILLIS_FROM, parse_time

_SUMMARY_PREFIXES = ("[CONTEXT COMPACTION", "[CONTEXT SUMMARY]")
_NAME_PREFIX = re.compile(r"^\[([^\]\n]{1,100})\] ")


def read_store(path: Path, agent: str | None, zone: tzinfo, *,
               follow_links: bool = False) -> StoreRead:
    read = StoreRead("hermes", str(path), follow_links=follow_links)
    home = path.parent if path.is_file() else path
    index = _index(home, read)
    rows = _database(home / "state.db" if path.is_dir() else path, read)
    sessions: dict[str, GatewaySession] = {}
    parents: dict[str, str] = {}
    for row in rows:
        sid = str(row["id"])
        key = row.get("session_key") or index.get(sid, {}).get("session_key") or ""
        origin = _origin(row, index.get(sid))
        session = GatewaySession("hermes", key, sid, _address(agent, key, origin, row),
                                 source=f"{home / 'state.db'}#{sid}")
        session.entries = row["entries"]
        if row.get("parent_session_id"):
            parents[sid] = str(row["parent_session_id"])
            session.continues = row.get("parent_end_reason") == "compression"
        sessions[sid] = session
    for sid, entry in index.items():
        if sid not in sessions:
            transcript = home / "sessions" / f"{sid}.jsonl"
            session = GatewaySession("hermes", entry.get("session_key", ""), sid,
                                     _address(agent, entry.get("session_key", ""),
                                              _origin({}, entry), {}), source=str(transcript))
            session.entries = _transcript(transcript, zone, read, session)
            sessions[sid] = session
    _settle_keys(sessions, parents)
    read.sessions = list(sessions.values())
    database = home / "state.db" if path.is_dir() else path
    if not rows and not index and not database.exists():
        read.problem(path, "no state.db and no sessions/sessions.json here; point PATH at "
                     "HERMES_HOME (~/.hermes) or a profile folder")
    return read


def _index(home: Path, read: StoreRead) -> dict[str, dict[str, Any]]:
    data = json_file(home / "sessions" / "sessions.json", read)
    found: dict[str, dict[str, Any]] = {}
    for key, entry in (data or {}).items() if isinstance(data, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("session_id"), str):
            found[entry["session_id"]] = {**entry, "session_key": entry.get("session_key", key)}
    return found


def _database(db: Path, read: StoreRead) -> list[dict[str, Any]]:
    if not db.exists() or not read.may_read(db):
        return []
    return read_sqlite(db, lambda conn: _rows(conn, read), [], read.problem)


def _rows(conn: sqlite3.Connection, read: StoreRead) -> list[dict[str, Any]]:
    session_cols = table_columns(conn, "sessions")
    message_cols = table_columns(conn, "messages")
    if not {"id", "source"} <= session_cols or not {"session_id", "role"} <= message_cols:
        read.problem("state.db", "no sessions/messages tables of Hermes's shape; skipped")
        return []
    version = _schema_version(conn)
    read.notes.append(f"state.db schema version {version}; sessions columns read: "
                      + ", ".join(sorted(session_cols & _WANTED)))
    sessions = table_rows(conn, "sessions", "started_at, id")
    ends = {str(s["id"]): s.get("end_reason") for s in sessions}
    order = "timestamp, id" if "timestamp" in message_cols else "id"
    by_session: dict[str, list[dict[str, Any]]] = {}
    for message in table_rows(conn, "messages", order):
        by_session.setdefault(str(message["session_id"]), []).append(message)
    for session in sessions:
        parent = session.get("parent_session_id")
        session["parent_end_reason"] = ends.get(str(parent)) if parent else None
        session["entries"] = [e for m in by_session.get(str(session["id"]), [])
                              for e in _db_entries(m, read)]
    return sessions


_WANTED = {"source", "user_id", "parent_session_id", "session_key", "chat_id", "chat_type",
           "thread_id", "origin_json", "end_reason"}


def _schema_version(conn: sqlite3.Connection) -> str:
    for table in ("schema_version", "meta"):
        row = first_row(conn, table)
        if row is not None:
            return str(row[0] if table == "schema_version" else dict(row))
    return "unknown"


def _db_entries(row: dict[str, Any], read: StoreRead) -> list[Entry]:
    where = f"state.db#messages/{row.get('id')}"
    try:
        stamp = row.get("timestamp")
        when = parse_time(stamp, UTC, read, where)
        if when is not None and isinstance(stamp, int | float) and stamp > MILLIS_FROM \
                and "milliseconds" not in " ".join(read.notes):  # Hermes writes seconds
            read.notes.append("some timestamps were in milliseconds; read as such")
        meta = {"hermes_message_id": row.get("id")}
        if "active" in row and not row.get("active"):
            meta["archived_by_compaction"] = True
        content = row.get("content")
        if isinstance(content, bytes):
            content = content.decode("utf-8")  # a BLOB of text; any other BLOB is no message
        return _entries(str(row.get("id")), row.get("role"), content,
                        row.get("tool_calls"), when, row.get("platform_message_id"), meta)
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        read.problem(where, f"unreadable message row ({type(error).__name__}: "
                     f"{str(error)[:120]}); the row was skipped")
        return []


def _entries(entry_id: str, role: Any, content: Any, tool_calls: Any, when: Any,
             message_id: Any, meta: dict[str, Any]) -> list[Entry]:
    text = content if isinstance(content, str) else json.dumps(content) if content else ""
    if role == "user" and text.startswith(_SUMMARY_PREFIXES):
        return [Entry(entry_id, "summary", text, when, meta=meta)]
    if role == "user":
        name = _NAME_PREFIX.match(text)
        return [Entry(entry_id, "user", text, when, sender_name=name.group(1) if name else None,
                      message_id=str(message_id) if message_id else None, meta=meta)]
    if role == "assistant":
        found = [Entry(entry_id, "assistant", text, when, meta=meta)] if text else []
        calls = json.loads(tool_calls) if isinstance(tool_calls, str) and tool_calls else (
            tool_calls or [])
        for index, call in enumerate(calls if isinstance(calls, list) else []):
            function = call.get("function", {}) if isinstance(call, dict) else {}
            found.append(Entry(f"{entry_id}/call-{index}", "tool",
                               f"{function.get('name')}({function.get('arguments')})", when,
                               meta={"tool_call_id": call.get("id")}))
        return found
    if role == "tool":
        return [Entry(entry_id, "tool", text or "(no output)", when, meta=meta)]
    return []


def _transcript(file: Path, zone: tzinfo, read: StoreRead,
                session: GatewaySession) -> list[Entry]:
    found: list[Entry] = []
    for number, item in json_lines(file, read):
        if item.get("role") == "session_meta":
            continue
        when = parse_time(item.get("timestamp"), zone, read)
        entries = _entries(f"line-{number}", item.get("role"), item.get("content"),
                           item.get("tool_calls"), when, None, {})
        if not entries:
            session.skip(f"{item.get('role')} lines")
        found += entries
    return found


def _origin(row: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    origin: dict[str, Any] = {}
    raw = row.get("origin_json")
    if isinstance(raw, str) and raw:
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = None
        origin.update(loaded if isinstance(loaded, dict) else {})
    if entry and isinstance(entry.get("origin"), dict):
        origin = {**entry["origin"], **origin}
    for column in ("chat_id", "chat_type", "thread_id", "user_id"):
        if row.get(column) and not origin.get(column):
            origin[column] = row[column]
    if row.get("source") and not origin.get("platform"):
        origin["platform"] = row["source"]
    return origin


def _address(agent: str | None, key: str, origin: dict[str, Any],
             row: dict[str, Any]) -> Address:
    parsed = keys.parse(key) if key else None
    thread = origin.get("thread_id")
    if parsed is not None and parsed.topic is None and parsed.sender is not None \
            and parsed.chat_type != "dm" and thread and str(thread) == parsed.sender:
        # the part after the chat is the thread the origin names (shared groups), no user
        parsed = replace(parsed, topic=parsed.sender, sender=None)
    chat_type = str(origin.get("chat_type") or (parsed.chat_type if parsed else "") or "dm")
    topic = thread or (parsed.topic if parsed else None)
    if chat_type not in ("dm", "group", "channel"):
        chat_type = "group"
    # A user is every message's sender only in a DM or a per-user group session.
    user = (parsed.sender if parsed else None) or (
        origin.get("user_id") if chat_type == "dm" else None)
    platform = str(origin.get("platform") or (parsed.platform if parsed else "") or "unknown")
    space = origin.get("scope_id") or origin.get("guild_id")
    if parsed is not None and platform == "slack":
        space = parsed.space  # the key says whether Hermes scoped it by workspace
    return Address(agent=agent or (parsed.agent if parsed and parsed.agent else "main"),
                   platform=platform, space=str(space) if space else None,
                   chat=str(origin.get("chat_id") or (parsed.chat if parsed else "") or "")
                   or None,
                   chat_type=chat_type, topic=str(topic) if topic else None,
                   peer=str(user) if user else None)


def _settle_keys(sessions: dict[str, GatewaySession], parents: dict[str, str]) -> None:
    """Unkeyed sessions take their chain's key and place; order each key's sessions in time.

    Hermes indexes only a key's current session, and older schemas keep no key per row,
    so the earlier links of a chain know only their platform and user: the chat they were
    in is their keyed link's (a group chat, a thread), not a DM with that user."""
    for _ in range(len(sessions)):  # bounded: one key moves one link per pass at least
        changed = False
        for child, parent in parents.items():
            if child in sessions and parent in sessions:
                a, b = sessions[child], sessions[parent]
                if a.key and not b.key:
                    _inherit(b, a)
                    changed = True
                elif b.key and not a.key:
                    _inherit(a, b)
                    changed = True
        if not changed:
            break
    for _ in range(len(sessions)):  # links of one key share what any of them knows
        changed = False
        for child, parent in parents.items():
            if child in sessions and parent in sessions:
                a, b = sessions[child], sessions[parent]
                if a.key == b.key:
                    changed = _complete(a.address, b.address) | changed
                    changed = _complete(b.address, a.address) | changed
        if not changed:
            break
    by_key: dict[str, list[GatewaySession]] = {}
    for session in sessions.values():
        if not session.key:
            session.key = f"orphan:{session.session_id}"
        by_key.setdefault(session.key, []).append(session)
    for group in by_key.values():
        group.sort(key=lambda s: (s.entries[0].occurred_at.timestamp()
                                  if s.entries and s.entries[0].occurred_at else 0.0))
        for epoch, session in enumerate(group):
            session.epoch = epoch


def _inherit(link: GatewaySession, keyed: GatewaySession) -> None:
    """A chain link without a key of its own is where its keyed neighbour is."""
    link.key = keyed.key
    link.address = replace(keyed.address)


def _complete(address: Address, known: Address) -> bool:
    """Fill what `address` lacks from `known` (the same chat); whether anything changed."""
    changed = False
    for name in ("space", "chat", "topic", "peer"):
        if getattr(address, name) is None and getattr(known, name) is not None:
            setattr(address, name, getattr(known, name))
            changed = True
    return changed
