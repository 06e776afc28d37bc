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

CHECKPOINT_ID = "0f4d3a52-1b2c-4d5e-8f90-123456789abc"
INBOUND = ("Conversation info (untrusted metadata):\n```json\n"
           '{"message_id": "1001", "sender_id": "42", "sender": "Alice"}\n```\n\n')


def openclaw_store(root: Path) -> Path:
    """~/.openclaw with agent main: a v3 DM with a branch, a compaction that keeps its last
    entry and a time envelope; a v2 channel; a v1 slack chat ending in a truncated line; a
    forum topic file; an earlier epoch of three of those keys, each tied to its key
    another way: the entry's usage lineage (a /reset archive), a store backup (an archive
    of a deleted session) and the archived header's usageFamilyKey (a topic's archive); and
    copies that are no session: a compaction checkpoint, a .bak transcript, a store backup
    equal to the store, a runtime trajectory."""
    sessions = root / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    index = {
        "agent:main:main": {"sessionId": "s-main", "updatedAt": (T0 + 600) * 1000,
                            "chatType": "direct",
                            "origin": {"provider": "telegram", "chatType": "direct",
                                       "nativeDirectUserId": "42"},
                            "deliveryContext": {"channel": "telegram", "to": "42"},
                            "usageFamilyKey": "agent:main:main",
                            "usageFamilySessionIds": ["s-old", "s-main"]},
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
        msg("a8", "a7", 8, {"role": "user", "content": "[Sun 2026-03-01 10:00 UTC] thanks"}),
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
    _lines(sessions / "s-old.jsonl.reset.2026-03-01T09-59-59.000Z", [
        {"type": "session", "version": 3, "id": "s-old", "timestamp": iso(-86400),
         "cwd": "/w"},
        msg("d1", None, -86399, {"role": "user", "content": "before the reset"}),
        msg("d2", "d1", -86398, {"role": "assistant", "content": [
            {"type": "text", "text": "noted"}]}),
    ])
    (sessions / "sessions.json.bak.1").write_text(json.dumps({
        "agent:main:discord:channel:c1": {"sessionId": "s-gone", "updatedAt": T0 * 1000,
                                          "chatType": "channel", "space": "g1"}}),
        encoding="utf-8")
    _lines(sessions / "s-gone.jsonl.deleted.2026-03-01T09-00-00.000Z", [
        {"type": "session", "version": 3, "id": "s-gone", "timestamp": iso(-7200),
         "cwd": "/w"},
        msg("e1", None, -7199, {"role": "user", "content": "before the channel was cleared"}),
    ])
    _lines(sessions / "s-was-topic-7.jsonl.reset.2026-03-01T09-30-00.000Z", [
        {"type": "session", "version": 3, "id": "s-was", "timestamp": iso(-3600),
         "cwd": "/w", "usageFamilyKey": "agent:main:telegram:group:-1001:topic:7"},
        msg("f1", None, -3599, {"role": "user", "content": "an older topic question"}),
    ])
    # Copies OpenClaw leaves beside the transcripts, none a session of its own: the DM's
    # checkpoint taken before it compacted, a .bak of the channel's transcript, a backup
    # of the store as it is now, and a runtime trajectory
    transcript = (sessions / "s-main.jsonl").read_text(encoding="utf-8")
    (sessions / f"s-main.checkpoint.{CHECKPOINT_ID}.jsonl").write_text(
        "".join(transcript.splitlines(keepends=True)[:6]), encoding="utf-8")
    (sessions / "s-v2.jsonl.bak.2026-03-01T10-30-00.000Z").write_bytes(
        (sessions / "s-v2.jsonl").read_bytes())
    (sessions / "sessions.json.bak.2").write_bytes((sessions / "sessions.json").read_bytes())
    _lines(sessions / "s-v2.trajectory.jsonl", [{"type": "run", "at": iso(12)}])
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


DM_KEY, GROUP_KEY = "agent:main:telegram:dm:99", "agent:main:discord:group:g-1"
# Chains in group chats: a per-user Telegram group session (group_sessions_per_user), a
# shared Discord thread (Hermes's `thread` slot) and a Slack channel thread of a workspace.
TG_GROUP_KEY = "agent:main:telegram:group:-1001234567890:42"
THREAD_KEY = "agent:main:discord:thread:c-7:t-9"
SLACK_THREAD_KEY = "agent:main:slack:group:T0TEAM:C0GEN:1772359800.000100"
_TG_GROUP = {"platform": "telegram", "chat_id": "-1001234567890", "chat_type": "group",
             "chat_name": "Ops", "user_id": "42", "user_name": "Alice"}
_THREAD = {"platform": "discord", "chat_id": "c-7", "chat_type": "thread", "thread_id": "t-9",
           "user_id": "bob", "user_name": "Bob", "guild_id": "guild-9", "scope_id": "guild-9"}
_SLACK_THREAD = {"platform": "slack", "chat_id": "C0GEN", "chat_type": "group",
                 "thread_id": "1772359800.000100", "user_id": "U7", "user_name": "Cleo",
                 "scope_id": "T0TEAM", "guild_id": "T0TEAM"}
# id, platform, user, parent, start, end reason, key, origin (the current schema's columns)
HERMES_SESSIONS: list[tuple[str, str, str, str | None, int, str | None, str,
                            dict[str, str]]] = [
    ("s1", "telegram", "99", None, 0, "compression", DM_KEY,
     {"chat_id": "99", "chat_type": "dm"}),
    ("s2", "telegram", "99", "s1", 100, None, DM_KEY, {"chat_id": "99", "chat_type": "dm"}),
    ("s3", "discord", "alice", None, 200, None, GROUP_KEY,
     {"chat_id": "g-1", "chat_type": "group"}),
    ("g1", "telegram", "42", None, 300, "compression", TG_GROUP_KEY, _TG_GROUP),
    ("g2", "telegram", "42", "g1", 400, None, TG_GROUP_KEY, _TG_GROUP),
    ("t1", "discord", "bob", None, 500, "compression", THREAD_KEY, _THREAD),
    ("t2", "discord", "alice", "t1", 600, "compression", THREAD_KEY, _THREAD),
    ("t3", "discord", "bob", "t2", 700, None, THREAD_KEY, _THREAD),
    ("k1", "slack", "U7", None, 800, "compression", SLACK_THREAD_KEY, _SLACK_THREAD),
    ("k2", "slack", "U7", "k1", 900, None, SLACK_THREAD_KEY, _SLACK_THREAD),
]
COMPACTED = "[CONTEXT COMPACTION — REFERENCE ONLY] "
SEARCH_CALL = json.dumps([{"id": "t1", "type": "function",
                           "function": {"name": "search", "arguments": "{}"}}])
# session, role, content, tool calls, offset, platform message id (the current schema's)
HERMES_MESSAGES: list[tuple[str, str, str, str | None, int, str | None]] = [
    ("s1", "user", "hi there", None, 1, "501"),
    ("s1", "assistant", "hello", None, 2, None),
    ("s1", "assistant", "", SEARCH_CALL, 3, None),
    ("s1", "tool", "found it", None, 4, None),
    ("s2", "user", COMPACTED + "they greeted", None, 101, None),
    ("s2", "user", "and now?", None, 102, "502"),
    ("s3", "user", "[Alice] hi group", None, 201, "601"),
    ("s3", "user", "[Bob] hey", None, 202, "602"),
    ("s3", "assistant", "hi both", None, 203, None),
    ("g1", "user", "how do I deploy?", None, 301, "701"),
    ("g1", "assistant", "run the deploy script", None, 302, None),
    ("g2", "user", COMPACTED + "Alice asked how to deploy", None, 401, None),
    ("g2", "user", "and roll back?", None, 402, "702"),
    ("g2", "assistant", "run it with --undo", None, 403, None),
    ("t1", "user", "[Bob] the build is red", None, 501, "801"),
    ("t1", "assistant", "looking", None, 502, None),
    ("t2", "user", COMPACTED + "Bob reported a red build", None, 601, None),
    ("t2", "user", "[Alice] it is the cache", None, 602, "802"),
    ("t3", "user", COMPACTED + "a red build, the cache", None, 701, None),
    ("t3", "user", "[Bob] cleared, green now", None, 702, "803"),
    ("t3", "assistant", "great", None, 703, None),
    ("k1", "user", "[Cleo] standup notes?", None, 801, "1772360401.000200"),
    ("k2", "user", COMPACTED + "Cleo asked for notes", None, 901, None),
    ("k2", "user", "[Cleo] thanks", None, 902, "1772360802.000300"),
]


def hermes_store(root: Path, *, current: bool) -> Path:
    """~/.hermes: a Telegram DM in a compression chain (s1 -> s2), a shared Discord group
    whose user text carries `[name] ` prefixes, a JSONL-only Slack session, and chains in
    group chats (HERMES_SESSIONS): only each key's newest session is in sessions.json, and
    the older schema keeps no key, chat or thread per row, as Hermes writes them."""
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
    for sid, source, user, parent, start, end, key, origin in HERMES_SESSIONS:
        db.execute("INSERT INTO sessions (id, source, user_id, parent_session_id, started_at, "
                   "end_reason) VALUES (?, ?, ?, ?, ?, ?)",
                   (sid, source, user, parent, T0 + start, end))
        if current:
            db.execute("UPDATE sessions SET session_key = ?, chat_id = ?, chat_type = ?, "
                       "thread_id = ? WHERE id = ?",
                       (key, origin["chat_id"], origin["chat_type"], origin.get("thread_id"),
                        sid))
    for sid, role, content, calls, offset, platform_id in HERMES_MESSAGES:
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
        DM_KEY: {"session_key": DM_KEY, "session_id": "s2", "created_at": iso(100),
                 "updated_at": iso(102), "platform": "telegram", "chat_type": "dm",
                 "origin": {"platform": "telegram", "chat_id": "99", "chat_type": "dm",
                            "user_id": "99"}},
        GROUP_KEY: {"session_key": GROUP_KEY, "session_id": "s3", "platform": "discord",
                    "chat_type": "group",
                    "origin": {"platform": "discord", "chat_id": "g-1", "chat_type": "group",
                               "user_id": "bob", "guild_id": "guild-9"}},
        "agent:main:slack:dm:D1": {"session_key": "agent:main:slack:dm:D1",
                                   "session_id": "20260301_100000_abcd",
                                   "origin": {"platform": "slack", "chat_id": "D1",
                                              "chat_type": "dm", "user_id": "U1"}},
    }
    for key, newest, origin in ((TG_GROUP_KEY, "g2", _TG_GROUP), (THREAD_KEY, "t3", _THREAD),
                                (SLACK_THREAD_KEY, "k2", _SLACK_THREAD)):
        index[key] = {"session_key": key, "session_id": newest, "created_at": iso(400),
                      "updated_at": iso(903), "platform": origin["platform"],
                      "chat_type": origin["chat_type"], "origin": origin}
    (root / "sessions" / "sessions.json").write_text(json.dumps(index), encoding="utf-8")
    _lines(root / "sessions" / "20260301_100000_abcd.jsonl", [
        {"role": "session_meta", "tools": [], "model": "m", "platform": "slack",
         "timestamp": "2026-03-01T11:00:00"},
        {"role": "user", "content": "naive time question", "timestamp": "2026-03-01T11:00:01"},
        {"role": "assistant", "content": "answer", "timestamp": "2026-03-01T11:00:02"},
    ])
    return root


# ---------------------------------------------------------------------- PicoClaw

PICO_CHANNEL = "555"  # the Discord channel PicoClaw's dispatch rule splits per user


def picoclaw_store(root: Path) -> Path:
    """<workspace>/sessions and, beside the workspace, PicoClaw's config.json: a Telegram
    forum topic (opaque key, scope, summary, aliases; a line a crash cut short before
    `skip`, which counts it, and a blank one); a DM scoped by sender; a Discord channel
    split per user by a dispatch rule, one of its metas with Go's zero time for the
    created_at PicoClaw never set; a Slack channel (ids lower-cased in the scope); a
    legacy .json; a JSONL whose meta file was never written (named by the sanitised
    key); and a corrupt meta file."""
    from projections.gateways.picoclaw.keys import Scope

    folder = root / "sessions"
    folder.mkdir(parents=True)
    (root.parent / "config.json").write_text(json.dumps({
        "session": {"dimensions": ["chat"]},
        "agents": {"dispatch": {"rules": [{
            "name": "ops per user", "when": {"channel": "discord", "chat": PICO_CHANNEL},
            "session_dimensions": ["chat", "sender"]}]}}}), encoding="utf-8")

    def scoped(scope: Scope, lines: list[dict[str, Any]], tail: str = "",
               **meta: Any) -> str:
        key = scope.key()
        _lines(folder / f"{key}.jsonl", lines, tail)
        (folder / f"{key}.meta.json").write_text(json.dumps({
            "key": key, "scope": {"version": 1, "agent_id": scope.agent,
                                  "channel": scope.channel, "account": scope.account,
                                  "dimensions": list(scope.dimensions),
                                  "values": dict(scope.values)}, **meta}), encoding="utf-8")
        return key

    topic_scope = Scope("main", "telegram", "default", ("chat",),
                        {"chat": "group:-1001234567890/42"})
    key = topic_scope.key()
    _lines(folder / f"{key}.jsonl", [
        {"role": "user", "content": "old 1", "created_at": iso(0)}])
    with (folder / f"{key}.jsonl").open("a", encoding="utf-8") as file:
        file.write('\n{"role": "user", "content": "cut sh\n')  # PicoClaw counts it, not ""
    with (folder / f"{key}.jsonl").open("a", encoding="utf-8") as file:
        file.write("".join(json.dumps(line) + "\n" for line in [
            {"role": "assistant", "content": "old 2", "created_at": iso(1)},
            {"role": "user", "content": "new question", "created_at": iso(2)},
            {"role": "assistant", "content": "", "created_at": iso(3),
             "tool_calls": [{"id": "t1", "type": "function",
                             "function": {"name": "exec", "arguments": "{\"cmd\": \"ls\"}"}}]},
            {"role": "tool", "content": "a b", "tool_call_id": "t1", "created_at": iso(4)},
            {"role": "assistant", "content": "done", "created_at": iso(5)}]))
    (folder / f"{key}.meta.json").write_text(json.dumps({
        "key": key, "summary": "they said old things", "skip": 3, "count": 7,
        "created_at": iso(0), "updated_at": iso(5),
        "scope": {"version": 1, "agent_id": "main", "channel": "telegram",
                  "account": "default", "dimensions": ["chat"],
                  "values": {"chat": "group:-1001234567890/42"}},
        "aliases": ["agent:main:telegram:group:-1001234567890/42"]}), encoding="utf-8")
    scoped(Scope("main", "telegram", "default", ("sender",), {"sender": "user123"}),
           [{"role": "user", "content": "dm hello"}, {"role": "assistant", "content": "dm hi"}],
           aliases=["agent:main:main", "agent:main:direct:user123",
                    "agent:main:telegram:direct:user123"], created_at=iso(50))
    for sender, offset, created in (("alice", 80, iso(80)),
                                    ("bob", 90, "0001-01-01T00:00:00Z")):
        scoped(Scope("main", "discord", "default", ("chat", "sender"),
                     {"chat": f"channel:{PICO_CHANNEL}", "sender": sender}),
               [{"role": "user", "content": f"{sender} asks"},
                {"role": "assistant", "content": f"{sender} is answered"}],
               aliases=[f"agent:main:discord:channel:{PICO_CHANNEL}"], created_at=created,
               updated_at=iso(offset + 1))
    scoped(Scope("main", "slack", "workspace-a", ("chat",), {"chat": "channel:c0ops"}),
           [{"role": "user", "content": "slack hello", "created_at": iso(100)}],
           aliases=["agent:main:slack:channel:c0ops"], created_at=iso(100))
    (folder / "agent_main_telegram_direct_555.json").write_text(json.dumps({
        "key": "agent:main:telegram:direct:555", "summary": "",
        "messages": [{"role": "user", "content": "legacy hello"},
                     {"role": "assistant", "content": "legacy hi"}],
        "created": iso(60), "updated": iso(61)}), encoding="utf-8")
    _lines(folder / "agent_main_telegram_direct_777.jsonl", [
        {"role": "user", "content": "no meta file", "created_at": iso(110)}])
    _lines(folder / "broken.jsonl", [{"role": "user", "content": "orphan line",
                                      "created_at": iso(70)}])
    (folder / "broken.meta.json").write_text("{not json", encoding="utf-8")
    return root
