"""`convlog import tinyclaw`: the queue database (messages, responses, a team's chat room),
read-only, one session per agent, malformed rows named and skipped, idempotent; and the
README's per-thread sessions, run as written."""

from __future__ import annotations

import io
import json
import re
import shlex
import sqlite3
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eventlog.events import Event, parse_event
from eventlog.store import EventStore
from projections.policy import load_policy
from projections.resolver import compile_policy
from tests.fixtures.http import ApiServer
from tests.integration.import_helpers import by_session, fingerprint, imported, run_import
from workers.cli.main import main

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in milliseconds, as TinyClaw writes times

SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL, sender TEXT NOT NULL, sender_id TEXT, message TEXT NOT NULL,
    agent TEXT, files TEXT, conversation_id TEXT, from_agent TEXT,
    status TEXT NOT NULL DEFAULT 'pending', retry_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, channel TEXT NOT NULL,
    sender TEXT NOT NULL, sender_id TEXT, message TEXT NOT NULL,
    original_message TEXT NOT NULL, agent TEXT, files TEXT, metadata TEXT,
    status TEXT NOT NULL DEFAULT 'pending', created_at INTEGER NOT NULL, acked_at INTEGER);
CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, team_id TEXT NOT NULL, from_agent TEXT NOT NULL,
    message TEXT NOT NULL, created_at INTEGER NOT NULL);
"""

MESSAGES: list[tuple[Any, ...]] = [
    # message_id, channel, sender, sender_id, message, agent, from_agent, conversation, at
    ("tg_1", "telegram", "Alice", "111", "hi coder", "coder", None, None, T0 + 1000),
    ("dc_1", "discord", "bob", "222", "hello from discord", "coder", None, None, T0 + 3000),
    ("tg_2", "telegram", "Alice", "111", "@writer draft a post", "writer", None, None,
     T0 + 5000),
    ("internal_1", "telegram", "Alice", "111", "[Message from teammate @coder]: review this",
     "writer", "coder", "conv_1", T0 + 6000),
    ("chat_1", "chatroom", "Alice", "111", "[Chat room #dev — @coder]:\nbuilt it", "writer",
     "coder", None, T0 + 7000),
    ("bad_1", "telegram", "Alice", "111", "when was this?", "coder", None, None, "yesterday"),
    ("wa_1", "whatsapp", "Carol", "333@c.us", "ping", None, None, None, T0 + 8000),
]
RESPONSES: list[tuple[Any, ...]] = [
    # message_id, channel, sender, sender_id, message, original, agent, files, metadata, at
    ("tg_1", "telegram", "Alice", "111", "hi Alice", "hi coder", "coder", None,
     '{"model": "sonnet"}', T0 + 2000),
    ("dc_1", "discord", "bob", "222", "hey bob", "hello from discord", "coder",
     '["/tmp/a.md"]', None, T0 + 4000),
    ("tg_2", "telegram", "Alice", "111", "draft ready", "@writer draft a post", "writer",
     None, None, T0 + 9000),
]
ROOM: list[tuple[Any, ...]] = [("dev", "coder", "built it", T0 + 7000),
                               ("dev", "writer", "reviewed", T0 + 7500),
                               ("dev", "writer", b"\xff\xfe not text", T0 + 7600)]


def tinyclaw_store(root: Path) -> Path:
    """~/.tinyclaw: two agents (coder on Telegram and Discord, writer on Telegram and from
    its teammate), a WhatsApp message with no agent, a team's room and a chat-room copy;
    a message whose created_at is no time and a room post that is not text."""
    root.mkdir(parents=True)
    db = sqlite3.connect(root / "tinyclaw.db")
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(SCHEMA)
    for mid, channel, sender, sid, text, agent, from_agent, conv, at in MESSAGES:
        db.execute("INSERT INTO messages (message_id, channel, sender, sender_id, message, "
                   "agent, from_agent, conversation_id, status, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?)",
                   (mid, channel, sender, sid, text, agent, from_agent, conv, at, at))
    for mid, channel, sender, sid, text, original, agent, files, meta, at in RESPONSES:
        db.execute("INSERT INTO responses (message_id, channel, sender, sender_id, message, "
                   "original_message, agent, files, metadata, status, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'acked', ?)",
                   (mid, channel, sender, sid, text, original, agent, files, meta, at))
    for team, agent, text, at in ROOM:
        db.execute("INSERT INTO chat_messages (team_id, from_agent, message, created_at) "
                   "VALUES (?, ?, ?, ?)", (team, agent, text, at))
    db.commit()
    db.close()
    return root


def sessions_under(policy: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Gateway session key -> the convlog session keys its events land in under `policy`."""
    compiled = compile_policy(load_policy(policy))
    answered: dict[str, str] = {}
    found: dict[str, set[str]] = {}
    for payload in events:
        event = parse_event(payload)
        assert isinstance(event, Event)
        key = compiled.resolve(event, lookup_reply=lambda reply, _e: answered.get(reply)).key
        if event.type == "message.received" and event.message_id:
            answered[event.message_id] = key
        found.setdefault(payload["meta"]["import"]["key"], set()).add(key)
    return found


def test_tinyclaw_database_imports_per_agent_with_rows_named_and_skipped(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a TinyClaw home whose queue database is in WAL mode
    root = tinyclaw_store(tmp_path / "tinyclaw")
    before = fingerprint(root)
    # When it is imported
    status, report = run_import(capsys, "tinyclaw", str(root))
    # Then each agent's messages and replies are one gateway session, the room another
    events = imported(store, "tinyclaw")
    assert by_session(events) == {
        "tinyclaw:agent:coder": [("message.received", "hi coder"),
                                 ("message.sent", "hi Alice"),
                                 ("message.received", "hello from discord"),
                                 ("message.sent", "hey bob")],
        "tinyclaw:agent:writer": [("message.received", "@writer draft a post"),
                                  ("message.sent", "draft ready"),
                                  ("message.received",
                                   "[Message from teammate @coder]: review this")],
        "tinyclaw:agent:default": [("message.received", "ping")],
        "tinyclaw:team:dev": [("message.received", "built it"),
                              ("message.received", "reviewed")]}
    # And each row maps its platform, chat, sender, ids, reply and time
    first = next(e for e in events if e["text"] == "hi coder")
    assert (first["agent"], first["platform"], first["chat"], first["chat_type"],
            first["sender"], first["sender_name"], first["message_id"]) == (
        "coder", "telegram", "111", "dm", "111", "Alice", "tg_1")
    assert first["occurred_at"].startswith("2026-01-01T00:00:01")
    reply = next(e for e in events if e["text"] == "hi Alice")
    assert (reply["reply_to"], reply["chat"]) == ("tg_1", "111")
    assert reply["meta"]["import"]["metadata"] == {"model": "sonnet"}
    teammate = next(e for e in events if e["text"].startswith("[Message from teammate"))
    assert (teammate["platform"], teammate["chat"], teammate["sender"]) == (
        "agent", "coder", "coder")
    room = next(e for e in events if e["text"] == "reviewed")
    assert (room["agent"], room["platform"], room["chat"], room["chat_type"],
            room["sender"]) == ("dev", "chatroom", "dev", "group", "writer")
    assert {e["meta"]["import"]["entry_id"] for e in events} >= {
        "messages/1", "responses/1", "chat_messages/2"}
    # And the malformed rows are named with their reason, the chat-room copy counted:
    # a partial import, exit 1
    assert status == 1
    named = {p["path"]: p["problem"] for p in report["problems"]}
    assert "created_at 'yesterday'" in named["tinyclaw.db#messages/6"]
    assert "not UTF-8" in named["tinyclaw.db#chat_messages/3"]
    assert report["messages"]["skipped"] == {
        "chat-room copies (the room itself is read from chat_messages)": 1}
    assert report["messages"]["appended"] == len(events) == 10
    # And under TinyClaw's own grouping every gateway session comes back whole
    trip = report["round_trip"]
    assert (trip["share"], trip["gateway_sessions"], trip["splits"], trip["merges"]) == (
        1.0, 4, [], [])
    # while convlog's default grouping gives each of an agent's chats its own session
    per_chat = sessions_under({}, events)
    assert len(per_chat["tinyclaw:agent:coder"]) == 2
    assert len(sessions_under({"dimensions": [], "dm_scope": "main"},
                              events)["tinyclaw:agent:coder"]) == 1
    # And the database was opened read-only: no byte changed, no -wal or -shm appeared
    assert fingerprint(root) == before


def test_a_second_tinyclaw_import_appends_nothing(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tinyclaw_store(tmp_path / "tinyclaw")
    _, first = run_import(capsys, "tinyclaw", str(root))
    _, again = run_import(capsys, "tinyclaw", str(root))
    assert first["messages"]["appended"] == 10
    assert again["messages"]["appended"] == 0
    assert again["messages"]["duplicates"] == first["messages"]["appended"]
    assert len(imported(store, "tinyclaw")) == 10


def test_one_agent_only_and_a_home_without_a_database(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a TinyClaw home, imported for the writer only
    root = tinyclaw_store(tmp_path / "tinyclaw")
    _, report = run_import(capsys, "tinyclaw", str(root), "--agent", "writer")
    # Then only the writer's rows come in; the others are counted as skipped
    assert set(by_session(imported(store, "tinyclaw"))) == {"tinyclaw:agent:writer"}
    assert report["messages"]["skipped"]["rows of other agents (--agent)"] == 5
    # And a folder with no tinyclaw.db is reported, exit 1
    status, empty = run_import(capsys, "tinyclaw", str(tmp_path))
    assert status == 1 and "no tinyclaw.db" in empty["problems"][0]["problem"]


def test_a_live_database_is_read_through_its_write_ahead_log(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a TinyClaw home whose gateway is running: a write still in the -wal file
    root = tinyclaw_store(tmp_path / "tinyclaw")
    gateway = sqlite3.connect(root / "tinyclaw.db")
    try:
        gateway.execute("PRAGMA wal_autocheckpoint = 0")
        gateway.execute("INSERT INTO messages (message_id, channel, sender, sender_id, "
                        "message, agent, created_at, updated_at) VALUES ('tg_9', 'telegram', "
                        "'Alice', '111', 'just now', 'coder', ?, ?)", (T0 + 10_000, T0))
        gateway.commit()
        assert (root / "tinyclaw.db-wal").stat().st_size > 0
        # When it is imported meanwhile
        run_import(capsys, "tinyclaw", str(root))
    finally:
        gateway.close()
    # Then the write the log holds comes in too
    assert ("message.received", "just now") in by_session(
        imported(store, "tinyclaw"))["tinyclaw:agent:coder"]


def test_claude_code_transcripts_add_tool_use_without_reading_a_prompt_twice(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a TinyClaw home whose coder works in ws/coder, and Claude Code's transcript of it
    root = tinyclaw_store(tmp_path / "tinyclaw")
    workdir = tmp_path / "ws" / "coder"
    (root / "settings.json").write_text(json.dumps(
        {"workspace": {"path": str(tmp_path / "ws")},
         "agents": {"coder": {"name": "Coder", "working_directory": str(workdir)}}}))
    projects = tmp_path / "claude" / "projects"
    folder = projects / re.sub(r"[^A-Za-z0-9]", "-", str(workdir))
    folder.mkdir(parents=True)

    def line(uuid: str, kind: str, content: Any, second: int) -> dict[str, Any]:
        return {"type": kind, "uuid": uuid, "sessionId": "5e55", "cwd": str(workdir),
                "timestamp": f"2026-01-01T00:00:{second:02d}.500Z",
                "message": {"role": kind, "content": content}}

    transcript = [
        line("u1", "user", "hi coder", 1),  # the database's tg_1
        line("a1", "assistant", [{"type": "tool_use", "id": "t1", "name": "Bash",
                                  "input": {"command": "ls"}}], 1),
        line("u2", "user", [{"type": "tool_result", "tool_use_id": "t1",
                             "content": [{"type": "text", "text": "a.txt"}]}], 1),
        line("a2", "assistant", [{"type": "text", "text": "hi Alice"}], 2),  # a response
        line("u3", "user", "an older question", 3),
        line("a3", "assistant", [{"type": "thinking", "thinking": "hm"},
                                 {"type": "text", "text": "an older answer"}], 4),
        {"type": "file-history-snapshot", "messageId": "x"},
    ]
    (folder / "5e55.jsonl").write_text("".join(json.dumps(item) + "\n" for item in transcript))
    before = fingerprint(tmp_path / "claude")
    # When it is imported with the transcripts
    _, report = run_import(capsys, "tinyclaw", str(root), "--claude-projects", str(projects))
    # Then the tool use comes in, answering the database's message; no text comes twice
    events = imported(store, "tinyclaw")
    tools = [e for e in events if e["type"] == "tool.used"]
    assert [(e["text"], e["reply_to"]) for e in tools] == [
        ('Bash({"command": "ls"})', "tg_1"), ("a.txt", "tg_1")]
    assert [e.get("text") for e in events].count("hi coder") == 1
    assert [e.get("text") for e in events].count("hi Alice") == 1
    coder = by_session(events)["tinyclaw:agent:coder"]
    assert ("message.sent", "an older answer") in coder
    # and a Claude session of its own (a new session uuid) is a reset of the agent's session
    assert coder.count(("session.reset", "")) == 1
    skipped = report["messages"]["skipped"]
    assert skipped["transcript prompts already read from tinyclaw.db"] == 1
    assert skipped["transcript replies already read from tinyclaw.db"] == 1
    assert skipped["transcript file-history-snapshot lines"] == 1
    # And the agent is still one gateway session; nothing is appended twice
    assert report["round_trip"]["share"] == 1.0
    _, again = run_import(capsys, "tinyclaw", str(root), "--claude-projects", str(projects))
    assert again["messages"]["appended"] == 0
    assert fingerprint(tmp_path / "claude") == before


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_per_thread_commands() -> list[str]:
    """The shell lines of the README's TinyClaw per-thread example, as written."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Moving from a gateway"):text.index("## Documentation")]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_readmes_per_thread_sessions_for_tinyclaw_run_as_written(
        tmp_path: Path, api_factory: Callable[..., ApiServer], store: EventStore,
        cli_env: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a TinyClaw home and Claude Code's projects folder where the README has them
    home = tinyclaw_store(tmp_path / ".tinyclaw")
    (tmp_path / ".claude" / "projects").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    lines = readme_per_thread_commands()
    imports, activate, ingest, resolve, claude = lines

    def run(line: str) -> int:
        capsys.readouterr()
        words = [w.replace("~", str(tmp_path), 1) if w.startswith("~/") else w
                 for w in shlex.split(line)]
        assert words[0] == "convlog"
        return main(words[1:])

    def thread_session(address: dict[str, Any]) -> str:
        capsys.readouterr()
        assert main(["resolve", json.dumps(address), "--json"]) == 0
        return str(json.loads(capsys.readouterr().out)["session_id"])

    # When its lines run: the import (partial: the test store's damaged rows are named),
    # a per-thread policy made active, the gateway's message of Telegram topic 652
    assert run(imports) == 1
    assert run(activate) == 0
    event = json.loads(re.findall(r"'(\{.*?\})'", ingest)[0])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        json.dumps(event).encode() + b"\n")))
    assert ingest.endswith("| convlog ingest -") and main(["ingest", "-"]) == 0
    address = json.loads(re.findall(r"'(\{.*?\})'", resolve)[0])
    assert "--json | jq -r .session_id" in resolve
    sid = thread_session(address)
    # Then the thread's session id is a UUID, as `claude --session-id` takes it
    assert claude.startswith('claude --session-id "$SID"')
    assert str(uuid.UUID(sid)) == sid
    # And a turn over HTTP in that thread answers with the same id, the thread's context
    # holding its two messages; another thread of the chat has another id
    api = api_factory()
    client = api.client(api.token("gw", agents=[event["agent"]]))
    turn = client.turn({**event, "message_id": "9002", "text": "still red?",
                        "occurred_at": "2026-03-01T10:05:00Z"})
    assert turn["session_id"] == sid == client.resolve(address)["session_id"]
    assert [m["content"] for m in turn["context"]["messages"]] == [
        "the build is red", "still red?"]
    assert thread_session({**address, "topic": "29"}) != sid
    # And the id is the same after a rebuild of the projection and a second import
    assert run(activate.replace("create per-thread", "create rebuilt")) == 0
    capsys.readouterr()
    _, again = run_import(capsys, "tinyclaw", str(home), "--claude-projects",
                               str(tmp_path / ".claude" / "projects"))
    assert again["messages"]["appended"] == 0
    assert thread_session(address) == sid
    # When the thread is reset over HTTP
    client.reset(sid, id="reset-652")
    # Then its next turn answers with a new id and starts from nothing; once the reset is
    # folded, resolving the thread gives that id too
    after = client.turn({**event, "message_id": "9003", "text": "fresh start",
                         "occurred_at": "2026-03-01T11:00:00Z"})
    fresh = after["session_id"]
    assert fresh != sid and str(uuid.UUID(fresh)) == fresh
    assert [m["content"] for m in after["context"]["messages"]] == ["fresh start"]
    assert main(["catch-up"]) == 0
    assert thread_session(address) == fresh
