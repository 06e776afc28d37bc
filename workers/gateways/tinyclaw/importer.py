"""TinyClaw's store: its queue database `tinyclaw.db` (SQLite, opened read-only).

Format read (TinyAGI/tinyclaw `packages/core/src/queues.ts`, `packages/teams/src`):
`messages(id, message_id, channel, sender, sender_id, message, agent, files,
conversation_id, from_agent, status, ..., created_at ms)` are what the agents received
(`from_agent` set: another agent of a team sent it; channel `chatroom`: a copy of a team
chat-room post, delivered to each teammate); `responses(id, message_id, channel, sender,
sender_id, message, original_message, agent, files, metadata, status, created_at ms,
acked_at)` are the agents' replies, `message_id` naming the message answered;
`chat_messages(id, team_id, from_agent, message, created_at ms)` are a team's room.

TinyClaw keeps one session per agent (`claude -c` in the agent's working directory): an
agent's rows are one gateway session, `tinyclaw:agent:<id>`, read per chat (one
`GatewaySession` per platform and user, continuing each other). A room is its own,
`tinyclaw:team:<id>`. Entry ids are the tables' own row ids (AUTOINCREMENT, never reused),
so a second import appends nothing. Completed rows are pruned by TinyClaw after a day:
the database holds only recent traffic.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from eventlog.edge import EARLIEST_TIME, LATEST_TIME
from projections.gateways.sqlite_store import read_sqlite, table_columns, table_rows
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import parse_time
from workers.gateways.tinyclaw import claude

DATABASE = "tinyclaw.db"
_TABLES = {"messages": {"id", "message_id", "channel", "message", "created_at"},
           "responses": {"id", "message_id", "channel", "message", "created_at"},
           "chat_messages": {"id", "team_id", "from_agent", "message", "created_at"}}
_META_CHARS = 8_192  # a row's metadata JSON kept in meta up to this size
CHATROOM = "chatroom"


@dataclass
class _Reader:
    """The sessions being gathered and the rows skipped on purpose, by reason."""

    read: StoreRead
    agent: str | None
    sessions: dict[tuple[str, str, str], GatewaySession] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def session(self, key: str, address: Address) -> GatewaySession:
        chat = (key, address.platform or "", address.chat or "")
        if chat not in self.sessions:
            self.sessions[chat] = GatewaySession(
                "tinyclaw", key, key, address, source=f"{self.read.path}#{key}",
                continues=True)  # an agent's chats are one TinyClaw session, no reset
        return self.sessions[chat]


def read_store(path: Path, agent: str | None, zone: tzinfo, *, follow_links: bool = False,
               claude_projects: Path | None = None) -> StoreRead:
    read = StoreRead("tinyclaw", str(path), follow_links=follow_links)
    db = path / DATABASE if path.is_dir() else path
    if not db.exists():
        read.problem(path, f"no {DATABASE} here; point PATH at TinyClaw's home "
                     "(~/.tinyclaw, ~/.tinyagi, or $TINYCLAW_HOME / $TINYAGI_HOME)")
        return read
    tables = _database(db, read)
    reader = _Reader(read, agent)
    for row in tables.get("messages", []):
        _message(reader, row)
    for row in tables.get("responses", []):
        _response(reader, row)
    for row in tables.get("chat_messages", []):
        _room_post(reader, row)
    sessions = list(reader.sessions.values())
    if claude_projects is not None:
        home = path if path.is_dir() else path.parent
        agents = {s.address.agent for s in sessions if s.key.startswith("tinyclaw:agent:")}
        folders = claude.project_folders(home, agents, read)
        sessions += claude.read_transcripts(claude_projects, folders, read,
                                            _known_texts(sessions), agent)
    for session in sessions:
        if session.session_id != session.key:
            continue  # a transcript: in its own order, its epoch set
        session.entries.sort(key=lambda e: (e.occurred_at or datetime.min.replace(tzinfo=UTC),
                                            e.entry_id.startswith("responses/"),
                                            e.meta.get("tinyclaw_row_id", 0)))
        first = session.entries[0].occurred_at if session.entries else None
        session.epoch = int(first.timestamp() * 1000) if first else 0
    if sessions:
        for reason, count in reader.skipped.items():
            sessions[0].skip(reason, count)
    elif reader.skipped:
        read.notes.append("skipped: " + ", ".join(f"{n} {r}" for r, n in
                                                  reader.skipped.items()))
    read.sessions = sessions
    keys = {s.key for s in sessions}
    chats = sum(1 for s in sessions if s.session_id == s.key)
    if sessions:
        read.notes.append(f"{len(keys)} TinyClaw session(s) (one per agent, one per team "
                          f"room) read as {chats} chat(s) and {len(sessions) - chats} Claude "
                          "transcript(s); TinyClaw prunes completed rows after a day")
    return read


def _known_texts(sessions: list[GatewaySession]) -> dict[str, dict[str, dict[str, str]]]:
    """Per agent, the prompts and replies the database gave (text -> message id)."""
    known: dict[str, dict[str, dict[str, str]]] = {}
    for session in sessions:
        texts = known.setdefault(session.address.agent, {"prompts": {}, "replies": {}})
        for entry in session.entries:
            target = texts["prompts"] if entry.role == "user" else texts["replies"]
            answered = entry.message_id if entry.role == "user" else entry.reply_to
            if entry.text.strip() and answered:
                target.setdefault(entry.text.strip(), answered)
    return known


def _database(db: Path, read: StoreRead) -> dict[str, list[dict[str, Any]]]:
    if not read.may_read(db):
        return {}
    return read_sqlite(db, lambda conn: _tables(conn, read, db), {}, read.problem)


def _tables(conn: sqlite3.Connection, read: StoreRead,
            db: Path) -> dict[str, list[dict[str, Any]]]:
    conn.text_factory = bytes  # text that is not UTF-8 is named per row, not raised
    found: dict[str, list[dict[str, Any]]] = {}
    for table, needed in _TABLES.items():
        columns = table_columns(conn, table)
        if not columns:
            continue
        if not needed <= columns:
            read.problem(f"{db.name}#{table}", "missing column(s) "
                         + ", ".join(sorted(needed - columns)) + "; the table was skipped")
            continue
        found[table] = table_rows(conn, table, "id")
    if not found:
        read.problem(db, "no messages, responses or chat_messages table of TinyClaw's "
                     "shape; skipped")
    return found


def _wanted_agent(reader: _Reader, fields: dict[str, Any] | None) -> str | None:
    """The row's agent (NULL is TinyClaw's `default`), or None when --agent leaves it out."""
    if fields is None:
        return None
    agent = str(fields["agent"] or "default")
    if reader.agent is not None and agent != reader.agent:
        reader.skip("rows of other agents (--agent)")
        return None
    return agent


def _message(reader: _Reader, row: dict[str, Any]) -> None:
    where = f"{DATABASE}#messages/{row.get('id')}"
    fields = _fields(reader.read, where, row, ("message_id", "channel", "message"),
                     ("sender", "sender_id", "agent", "from_agent", "conversation_id",
                      "status", "files"))
    agent = _wanted_agent(reader, fields)
    if fields is None or agent is None:
        return
    if fields["channel"] == CHATROOM:
        reader.skip("chat-room copies (the room itself is read from chat_messages)")
        return
    meta = _meta(row, fields, ("channel", "conversation_id", "status", "files"))
    from_agent = fields["from_agent"]
    if from_agent:  # a teammate's message: the chat is with that agent
        address = Address(agent=agent, platform="agent", chat=from_agent, chat_type="dm",
                          peer=from_agent)
        sender, name = from_agent, from_agent
    else:
        user = fields["sender_id"] or fields["sender"] or None
        address = Address(agent=agent, platform=fields["channel"], chat=user,
                          chat_type="dm", peer=user)
        sender, name = user, fields["sender"] or None
    session = reader.session(f"tinyclaw:agent:{agent}", address)
    session.entries.append(Entry(f"messages/{row['id']}", "user", fields["message"],
                                 fields["when"], sender=sender, sender_name=name,
                                 message_id=fields["message_id"], meta=meta))


def _response(reader: _Reader, row: dict[str, Any]) -> None:
    where = f"{DATABASE}#responses/{row.get('id')}"
    fields = _fields(reader.read, where, row, ("message_id", "channel", "message"),
                     ("sender", "sender_id", "agent", "status", "files", "metadata"))
    agent = _wanted_agent(reader, fields)
    if fields is None or agent is None:
        return
    user = fields["sender_id"] or fields["sender"] or None
    address = Address(agent=agent, platform=fields["channel"], chat=user, chat_type="dm",
                      peer=user)
    meta = _meta(row, fields, ("status", "files", "metadata"))
    session = reader.session(f"tinyclaw:agent:{agent}", address)
    session.entries.append(Entry(f"responses/{row['id']}", "assistant", fields["message"],
                                 fields["when"], message_id=f"tinyclaw-response-{row['id']}",
                                 meta=meta, reply_to=fields["message_id"]))


def _room_post(reader: _Reader, row: dict[str, Any]) -> None:
    where = f"{DATABASE}#chat_messages/{row.get('id')}"
    fields = _fields(reader.read, where, row, ("team_id", "from_agent", "message"), ())
    if fields is None:
        return
    if reader.agent is not None:
        reader.skip("team chat-room posts (--agent)")
        return
    team = fields["team_id"]
    address = Address(agent=team, platform=CHATROOM, chat=team, chat_type="group")
    session = reader.session(f"tinyclaw:team:{team}", address)
    session.entries.append(Entry(
        f"chat_messages/{row['id']}", "user", fields["message"], fields["when"],
        sender=fields["from_agent"], sender_name=fields["from_agent"],
        message_id=f"tinyclaw-chat-{row['id']}", meta={"team_id": team}))


def _fields(read: StoreRead, where: str, row: dict[str, Any], required: tuple[str, ...],
            optional: tuple[str, ...]) -> dict[str, Any] | None:
    """The row's text columns and time, or None with the row named as a problem."""
    if not isinstance(row.get("id"), int):
        return _bad(read, where, f"its id {row.get('id')!r} is no row id")
    found: dict[str, Any] = {}
    for column in (*required, *optional):
        value = row.get(column)
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                return _bad(read, where, f"{column} is not UTF-8 text")
        elif isinstance(value, int | float) and column != "message":
            value = str(value)  # an id stored as a number
        if column in required and (not isinstance(value, str) or
                                   (column != "message" and not value.strip())):
            return _bad(read, where, f"{column} is {'missing' if value is None else 'no text'}")
        found[column] = value if isinstance(value, str) else None
    stamp = row.get("created_at")
    if isinstance(stamp, bytes):  # text in an INTEGER column: an ISO time, or no time
        stamp = stamp.decode("utf-8", "replace")
    when = parse_time(stamp, UTC, read)
    if when is None or not EARLIEST_TIME <= when < LATEST_TIME:
        return _bad(read, where, f"created_at {stamp!r} is no time between 1970 and 2200")
    found["when"] = when
    return found


def _bad(read: StoreRead, where: str, why: str) -> dict[str, Any] | None:
    read.problem(where, f"unreadable row ({why}); the row was skipped")
    return None


def _meta(row: dict[str, Any], fields: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    meta: dict[str, Any] = {"tinyclaw_row_id": row["id"]}
    for column in keep:
        value = fields.get(column)
        if not value:
            continue
        if column in ("files", "metadata"):
            if len(value) > _META_CHARS:
                meta[f"{column}_truncated"] = True
                continue
            with contextlib.suppress(ValueError):  # else kept as the text it is
                value = json.loads(value)
        meta[column] = value
    return meta
