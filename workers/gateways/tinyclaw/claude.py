"""The Claude Code transcripts of TinyClaw's agents (`--claude-projects DIR`).

TinyClaw runs `claude -c -p MESSAGE` in each agent's working directory
(`agents.<id>.working_directory` in `settings.json`, default `<workspace>/<id>`,
workspace `workspace.path`, default `~/tinyclaw-workspace` or `~/tinyagi-workspace`).
Claude Code keeps each session as `<DIR>/<working directory, every character but
letters and digits as "-">/<session uuid>.jsonl`: one object a line with `type` (`user`,
`assistant`, `summary`, ...), `uuid`, `sessionId`, `timestamp` (ISO, UTC) and `message`
(`content`: a string or `text`, `tool_use {id, name, input}`, `tool_result {tool_use_id,
content}` blocks). A new session uuid is a reset of the agent's one TinyClaw session.

Prompts and replies the queue database still holds (the last day) are read from there:
a transcript's prompt or reply with the same text is not read twice, and the tool use
after such a prompt answers the database's message id.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

from workers.gateways.lines import json_file, json_lines
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import parse_time

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
_TOOL_CHARS = 4_000  # a tool call's input or output kept in its event up to this size


def project_folders(home: Path, agents: set[str], read: StoreRead) -> dict[str, list[Path]]:
    """Agent id -> the folder names Claude Code may keep its working directory's sessions
    under (both spellings Claude Code has used)."""
    file = home / "settings.json"
    settings = _object(json_file(file, read) if file.exists() else None)
    configured, workspace = _object(settings.get("agents")), _object(settings.get("workspace"))
    default_root = "~/tinyagi-workspace" if "tinyagi" in home.name else "~/tinyclaw-workspace"
    root = Path(str(workspace.get("path") or default_root)).expanduser()
    found: dict[str, list[Path]] = {}
    for agent in sorted(agents | set(configured)):
        raw = _object(configured.get(agent)).get("working_directory")
        folder = Path(str(raw)).expanduser() if raw else root / agent
        text = str(folder if folder.is_absolute() else root / folder)
        found[agent] = [Path(name) for name in dict.fromkeys(
            [_NOT_ALNUM.sub("-", text), text.replace("/", "-").replace(".", "-")])]
    return found


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_transcripts(projects: Path, folders: dict[str, list[Path]], read: StoreRead,
                     known: dict[str, dict[str, dict[str, str]]],
                     agent_filter: str | None) -> list[GatewaySession]:
    """Each transcript of each agent as a session of `tinyclaw:agent:<id>`.

    `known[agent]` holds the texts the database already gave: `prompts` (text -> its
    message id) and `replies` (text -> its message id)."""
    outside = StoreRead("tinyclaw", str(projects))  # DIR is the root of what may be read
    sessions: list[GatewaySession] = []
    for agent, names in folders.items():
        if agent_filter is not None and agent != agent_filter:
            continue
        files = sorted({f for name in names for f in (projects / name).glob("*.jsonl")})
        for file in files:
            sessions.append(_transcript(file, agent, outside, known.get(agent, {})))
    read.problems += outside.problems
    if not sessions:
        read.notes.append(f"no Claude Code transcript of these agents under {projects}")
    return sessions


def _transcript(file: Path, agent: str, read: StoreRead,
                known: dict[str, dict[str, str]]) -> GatewaySession:
    key = f"tinyclaw:agent:{agent}"
    session = GatewaySession("tinyclaw", key, file.stem,
                             Address(agent=agent, platform="tinyclaw", chat_type="dm"),
                             source=str(file))
    prompts, replies = known.get("prompts", {}), known.get("replies", {})
    answered: str | None = None  # the database's message id the entries since answer
    for number, item in json_lines(file, read):
        kind, entry_id = item.get("type"), str(item.get("uuid") or f"line-{number}")
        when = parse_time(item.get("timestamp"), UTC, read)
        if kind == "summary" and isinstance(item.get("summary"), str):
            session.entries.append(Entry(entry_id, "summary", item["summary"], when))
            continue
        if kind not in ("user", "assistant"):
            session.skip(f"transcript {kind} lines")
            continue
        if item.get("isSidechain") or item.get("isMeta"):
            session.skip("transcript sidechain and meta lines")
            continue
        content = _object(item.get("message")).get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else (
            content if isinstance(content, list) else [])
        for index, block in enumerate(b for b in blocks if isinstance(b, dict)):
            block_id = entry_id if index == 0 else f"{entry_id}/{index}"
            entry = _entry(block, block_id, kind, when)
            if entry is None:
                continue
            text = entry.text.strip()
            if entry.role == "user" and text in prompts:
                answered = prompts[text]
                session.skip("transcript prompts already read from tinyclaw.db")
                continue
            if entry.role == "assistant" and text in replies:
                session.skip("transcript replies already read from tinyclaw.db")
                continue
            if entry.role == "user":
                answered = None
            elif answered is not None:
                entry.reply_to = answered
            session.entries.append(entry)
    first = next((e.occurred_at for e in session.entries if e.occurred_at), None)
    session.epoch = int(first.timestamp() * 1000) if first else 0
    return session


def _entry(block: dict[str, Any], entry_id: str, kind: str, when: Any) -> Entry | None:
    btype = block.get("type")
    if btype == "text" and isinstance(block.get("text"), str) and block["text"].strip():
        return Entry(entry_id, "user" if kind == "user" else "assistant", block["text"], when)
    if btype == "tool_use":
        arguments = json.dumps(block.get("input"), ensure_ascii=False)[:_TOOL_CHARS]
        return Entry(entry_id, "tool", f"{block.get('name')}({arguments})", when,
                     meta={"tool_call_id": block.get("id"), "tool": block.get("name")})
    if btype == "tool_result":
        output = block.get("content")
        if isinstance(output, list):
            output = "\n".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
        text = str(output or "")[:_TOOL_CHARS] or "(no output)"
        return Entry(entry_id, "tool", text, when,
                     meta={"tool_call_id": block.get("tool_use_id"),
                           "is_error": bool(block.get("is_error"))})
    return None  # thinking, images: not kept
