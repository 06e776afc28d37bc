"""Small gateway stores written the way the gateways write them, for the importer tests.

Formats from the gateways' sources (never copied): OpenClaw `src/config/sessions/*` and
pi-coding-agent's session manager (transcripts v1-v3); Hermes agent `hermes_state.py`
(state.db at schema 11 and a later one), `gateway/session.py` (sessions.json),
`gateway/run.py` (JSONL transcripts); PicoClaw `pkg/memory` and `pkg/session`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

T0 = 1_772_359_200  # 2026-03-01T10:00:00Z


def iso(offset: int) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(T0 + offset, UTC).isoformat().replace("+00:00", "Z")


def _lines(path: Path, items: list[dict[str, Any]], tail: str = "") -> None:
    path.write_text("".join(json.dumps(i) + "\n" for i in items) + tail, encoding="utf-8")


# ----------------------------------------------------------------------- OpenClaw

INBOUND = ("Conversation info (untrusted metadata):\n```json\n"
           '{"message_id": "1001", "sender_id": "42", "sender": "Alice"}\n```\n\n')


def openclaw_store(root: Path) -> Path:
    """~/.openclaw with agent main: a v3 DM with a branch and a compaction, a v2 channel,
    a v1 slack chat ending in a truncated line, a forum topic file and an archived reset."""
    sessions = root / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    index = {
        "agent:main:main": {"sessionId": "s-main", "updatedAt": (T0 + 600) * 1000,
                            "chatType": "direct",
                            "origin": {"provider": "telegram", "chatType": "direct",
                                       "nativeDirectUserId": "42"},
                            "deliveryContext": {"channel": "telegram", "to": "42"}},
        "agent:main:discord:channel:c1": {"sessionId": "s-v2", "updatedAt": T0 * 1000,
                                          "chatType": "channel", "space": "g1"},
        "agent:main:slack:channel:c9": {"sessionId": "s-v1", "updatedAt": T0 * 1000},
        "agent:main:telegram:group:-1001:topic:7": {"sessionId": "s-topic",
                                                     "updatedAt": T0 * 1000},
    }
    (sessions / "sessions.json").write_text(json.dumps(index), encoding="utf-8")

    def msg(entry_id: str, parent: str | None, offset: int, message: dict[str, Any]
            ) -> dict[str, Any]:
        return {"type": "message", "id": entry_id, "parentId": parent,
                "timestamp": iso(offset), "message": message}

    _lines(sessions / "s-main.jsonl", [
        {"type": "session", "version": 3, "id": "s-main", "timestamp": iso(0), "cwd": "/w"},
        msg("a1", None, 1, {"role": "user", "content": INBOUND + "what's the weather?",
                            "timestamp": (T0 + 1) * 1000}),
        msg("a2", "a1", 2, {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Checking."},
            {"type": "toolCall", "id": "call-1", "name": "weather",
             "arguments": {"city": "Oslo"}}], "provider": "anthropic", "model": "m"}),
        msg("a3", "a2", 3, {"role": "toolResult", "toolCallId": "call-1",
                            "toolName": "weather", "content": [{"type": "text",
                                                                "text": "rain"}]}),
        msg("a4", "a3", 4, {"role": "assistant", "content": [{"type": "text",
                                                              "text": "abandoned"}]}),
        msg("a5", "a3", 5, {"role": "assistant", "content": [{"type": "text",
                                                              "text": "It rains."}]}),
        {"type": "compaction", "id": "a6", "parentId": "a5", "timestamp": iso(6),
         "summary": "Alice asked about Oslo weather: rain.", "firstKeptEntryId": "a5",
         "tokensBefore": 1000},
        {"type": "model_change", "id": "a7", "parentId": "a6", "timestamp": iso(7)},
        msg("a8", "a7", 8, {"role": "user", "content": "thanks"}),
    ])
    _lines(sessions / "s-v2.jsonl", [
        {"type": "session", "version": 2, "id": "s-v2", "timestamp": iso(0), "cwd": "/w"},
        msg("b1", None, 10, {"role": "user", "content": "hello channel"}),
        msg("b2", "b1", 11, {"role": "hookMessage", "content": "hook says hi"}),
        msg("b3", "b2", 12, {"role": "assistant", "content": [{"type": "text",
                                                              "text": "hi all"}]}),
    ])
    _lines(sessions / "s-v1.jsonl", [
        {"type": "session", "version": 1, "id": "s-v1", "timestamp": iso(0), "cwd": "/w"},
        {"type": "message", "timestamp": iso(20), "message": {"role": "user",
                                                               "content": "v1 question"}},
        {"type": "message", "timestamp": iso(21), "message": {"role": "assistant",
                                                               "content": "v1 answer"}},
    ], tail='{"type": "message", "timestamp": "2026-03-01T10:')
    _lines(sessions / "s-topic-topic-7.jsonl", [
        {"type": "session", "version": 3, "id": "s-topic", "timestamp": iso(0), "cwd": "/w"},
        msg("c1", None, 30, {"role": "user", "content": "in the topic"}),
    ])
    _lines(sessions / "s-old.jsonl.reset.2026-02-28T10-00-00.000Z", [
        {"type": "session", "version": 3, "id": "s-old", "timestamp": iso(-86400),
         "cwd": "/w"},
        msg("d1", None, -86399, {"role": "user", "content": "before the reset"}),
    ])
    return root


# ------------------------------------------------------------------------ Hermes

OLD_SESSIONS = ("CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT NOT NULL, "
                "user_id TEXT, model TEXT, model_config TEXT, system_prompt TEXT, "
                "parent_session_id TEXT, started_at REAL NOT NULL, ended_at REAL, "
                "end_reason TEXT, message_count INTEGER DEFAULT 0, title TEXT)")
OLD_MESSAGES = ("CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "session_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT, "
                "tool_call_id TEXT, tool_calls TEXT, tool_name TEXT, timestamp REAL NOT NULL, "
                "token_count INTEGER, finish_reason TEXT)")
NEW_SESSION_COLUMNS = ("session_key TEXT", "chat_id TEXT", "chat_type TEXT", "thread_id TEXT",
                       "display_name TEXT", "origin_json TEXT")
NEW_MESSAGE_COLUMNS = ("platform_message_id TEXT", "active INTEGER DEFAULT 1",
                       "compacted INTEGER DEFAULT 0")


def hermes_store(root: Path, *, current: bool) -> Path:
    """~/.hermes: a Telegram DM in a compression chain (s1 -> s2), a shared Discord group
    whose user text carries `[name] ` prefixes, and a JSONL-only Slack session."""
    (root / "sessions").mkdir(parents=True)
    db = sqlite3.connect(root / "state.db")
    db.execute(OLD_SESSIONS)
    db.execute(OLD_MESSAGES)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (?)", (30 if current else 11,))
    if current:
        for column in NEW_SESSION_COLUMNS:
            db.execute(f"ALTER TABLE sessions ADD COLUMN {column}")
        for column in NEW_MESSAGE_COLUMNS:
            db.execute(f"ALTER TABLE messages ADD COLUMN {column}")
    dm_key, group_key = "agent:main:telegram:dm:99", "agent:main:discord:group:g-1"
    sessions = [("s1", "telegram", "99", None, 0, "compression", dm_key, "99", "dm"),
                ("s2", "telegram", "99", "s1", 100, None, dm_key, "99", "dm"),
                ("s3", "discord", "alice", None, 200, None, group_key, "g-1", "group")]
    for sid, source, user, parent, start, end, key, chat, chat_type in sessions:
        db.execute("INSERT INTO sessions (id, source, user_id, parent_session_id, started_at, "
                   "end_reason) VALUES (?, ?, ?, ?, ?, ?)",
                   (sid, source, user, parent, T0 + start, end))
        if current:
            db.execute("UPDATE sessions SET session_key = ?, chat_id = ?, chat_type = ? "
                       "WHERE id = ?", (key, chat, chat_type, sid))
    messages = [("s1", "user", "hi there", None, 1, "501"),
                ("s1", "assistant", "hello", None, 2, None),
                ("s1", "assistant", "", json.dumps([{"id": "t1", "type": "function",
                                                     "function": {"name": "search",
                                                                  "arguments": "{}"}}]), 3, None),
                ("s1", "tool", "found it", None, 4, None),
                ("s2", "user", "[CONTEXT COMPACTION — REFERENCE ONLY] they greeted", None, 101,
                 None),
                ("s2", "user", "and now?", None, 102, "502"),
                ("s3", "user", "[Alice] hi group", None, 201, "601"),
                ("s3", "user", "[Bob] hey", None, 202, "602"),
                ("s3", "assistant", "hi both", None, 203, None)]
    for sid, role, content, calls, offset, platform_id in messages:
        if current:
            db.execute("INSERT INTO messages (session_id, role, content, tool_calls, timestamp, "
                       "platform_message_id) VALUES (?, ?, ?, ?, ?, ?)",
                       (sid, role, content, calls, T0 + offset, platform_id))
        else:
            db.execute("INSERT INTO messages (session_id, role, content, tool_calls, timestamp) "
                       "VALUES (?, ?, ?, ?, ?)", (sid, role, content, calls, T0 + offset))
    db.commit()
    db.close()
    index = {
        dm_key: {"session_key": dm_key, "session_id": "s2", "created_at": iso(100),
                 "updated_at": iso(102), "platform": "telegram", "chat_type": "dm",
                 "origin": {"platform": "telegram", "chat_id": "99", "chat_type": "dm",
                            "user_id": "99"}},
        group_key: {"session_key": group_key, "session_id": "s3", "platform": "discord",
                    "chat_type": "group",
                    "origin": {"platform": "discord", "chat_id": "g-1", "chat_type": "group",
                               "user_id": "bob", "guild_id": "guild-9"}},
        "agent:main:slack:dm:D1": {"session_key": "agent:main:slack:dm:D1",
                                   "session_id": "20260301_100000_abcd",
                                   "origin": {"platform": "slack", "chat_id": "D1",
                                              "chat_type": "dm", "user_id": "U1"}},
    }
    (root / "sessions" / "sessions.json").write_text(json.dumps(index), encoding="utf-8")
    _lines(root / "sessions" / "20260301_100000_abcd.jsonl", [
        {"role": "session_meta", "tools": [], "model": "m", "platform": "slack",
         "timestamp": "2026-03-01T11:00:00"},
        {"role": "user", "content": "naive time question", "timestamp": "2026-03-01T11:00:01"},
        {"role": "assistant", "content": "answer", "timestamp": "2026-03-01T11:00:02"},
    ])
    return root


# ---------------------------------------------------------------------- PicoClaw

def picoclaw_store(root: Path) -> Path:
    """<workspace>/sessions: a Telegram forum topic (opaque key, scope, summary, skip, aliases),
    a DM scoped by sender, a legacy .json and a corrupt meta file."""
    from projections.gateways.picoclaw.keys import Scope

    folder = root / "sessions"
    folder.mkdir(parents=True)
    topic_scope = Scope("main", "telegram", "default", ("chat",),
                        {"chat": "group:-1001234567890/42"})
    key = topic_scope.key()
    _lines(folder / f"{key}.jsonl", [
        {"role": "user", "content": "old 1", "created_at": iso(0)},
        {"role": "assistant", "content": "old 2", "created_at": iso(1)},
        {"role": "user", "content": "new question", "created_at": iso(2)},
        {"role": "assistant", "content": "", "created_at": iso(3),
         "tool_calls": [{"id": "t1", "type": "function",
                         "function": {"name": "exec", "arguments": "{\"cmd\": \"ls\"}"}}]},
        {"role": "tool", "content": "a b", "tool_call_id": "t1", "created_at": iso(4)},
        {"role": "assistant", "content": "done", "created_at": iso(5)},
    ])
    (folder / f"{key}.meta.json").write_text(json.dumps({
        "key": key, "summary": "they said old things", "skip": 2, "count": 6,
        "created_at": iso(0), "updated_at": iso(5),
        "scope": {"version": 1, "agent_id": "main", "channel": "telegram",
                  "account": "default", "dimensions": ["chat"],
                  "values": {"chat": "group:-1001234567890/42"}},
        "aliases": ["agent:main:telegram:group:-1001234567890/42"]}), encoding="utf-8")
    dm_scope = Scope("main", "telegram", "default", ("sender",), {"sender": "user123"})
    dm_key = dm_scope.key()
    _lines(folder / f"{dm_key}.jsonl", [
        {"role": "user", "content": "dm hello"}, {"role": "assistant", "content": "dm hi"}])
    (folder / f"{dm_key}.meta.json").write_text(json.dumps({
        "key": dm_key, "scope": {"version": 1, "agent_id": "main", "channel": "telegram",
                                 "account": "default", "dimensions": ["sender"],
                                 "values": {"sender": "user123"}},
        "aliases": ["agent:main:main", "agent:main:direct:user123",
                    "agent:main:telegram:direct:user123"],
        "created_at": iso(50)}), encoding="utf-8")
    (folder / "agent_main_telegram_direct_555.json").write_text(json.dumps({
        "key": "agent:main:telegram:direct:555", "summary": "",
        "messages": [{"role": "user", "content": "legacy hello"},
                     {"role": "assistant", "content": "legacy hi"}],
        "created": iso(60), "updated": iso(61)}), encoding="utf-8")
    _lines(folder / "broken.jsonl", [{"role": "user", "content": "orphan line",
                                      "created_at": iso(70)}])
    (folder / "broken.meta.json").write_text("{not json", encoding="utf-8")
    return root
