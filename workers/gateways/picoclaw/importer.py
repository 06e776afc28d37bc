"""PicoClaw's store: `<workspace>/sessions/*.jsonl` with `*.meta.json`, and legacy `*.json`.

Formats read (PicoClaw `pkg/memory`, `pkg/session`): one message a line (`role`,
`content`, optional `created_at`, `tool_calls`, `tool_call_id`), no message ids; the meta
file holds the real key, the scope (version, agent, channel, account, dimensions and
values), the aliases, one summary and `skip` (leading lines summarised away). Legacy
`*.json` sessions are `{key, messages, summary, created, updated}`; `*.json.migrated`
ones were already moved into JSONL.
"""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Any

from projections.gateways.openclaw import keys as alias_keys
from projections.gateways.picoclaw.keys import parse_scope
from workers.gateways.lines import json_file, json_lines
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import parse_time

_CHAT_TYPES = {"direct": "dm", "group": "group", "channel": "channel"}


def read_store(path: Path, agent: str | None, zone: tzinfo, *,
               follow_links: bool = False) -> StoreRead:
    read = StoreRead("picoclaw", str(path), follow_links=follow_links)
    folder = path / "sessions" if (path / "sessions").is_dir() else path
    if not folder.is_dir():
        read.problem(path, "no sessions folder here; point PATH at PicoClaw's workspace "
                     "(~/.picoclaw/workspace) or its sessions folder")
        return read
    for file in sorted(folder.glob("*.jsonl")):
        meta_file = file.with_name(file.name.removesuffix(".jsonl") + ".meta.json")
        meta = json_file(meta_file, read) if meta_file.exists() else None
        read.sessions.append(_session(file, meta if isinstance(meta, dict) else {}, agent,
                                      zone, read))
    for file in sorted(folder.glob("*.json")):
        if file.name.endswith(".meta.json"):
            continue
        read.sessions.append(_legacy(file, agent, zone, read))
    migrated = len(list(folder.glob("*.json.migrated")))
    if migrated:
        read.notes.append(f"{migrated} legacy .json.migrated file(s) skipped: PicoClaw moved "
                          "their messages into the JSONL sessions read here")
    return read


def _session(file: Path, meta: dict[str, Any], agent: str | None, zone: tzinfo,
             read: StoreRead) -> GatewaySession:
    key = str(meta.get("key") or file.stem)
    scope_data = meta.get("scope") if isinstance(meta.get("scope"), dict) else None
    aliases = [str(a) for a in meta.get("aliases") or [] if isinstance(a, str)]
    address = _address(agent, scope_data, [key, *aliases])
    session = GatewaySession("picoclaw", key, key, address, source=str(file), aliases=aliases,
                             scope=scope_data)
    start = parse_time(meta.get("created_at"), zone, read)
    session.started_at = start
    dimensions = (scope_data or {}).get("dimensions") or []
    session.thread_known = (address.chat_type == "dm" or address.platform == "telegram"
                            or "topic" in dimensions)
    lines = [item for _, item in json_lines(file, read)]
    raw_skip = meta.get("skip")
    skip = raw_skip if isinstance(raw_skip, int) else 0
    summary = meta.get("summary") if isinstance(meta.get("summary"), str) else ""
    for index, item in enumerate(lines):
        if summary and index == skip:
            session.entries.append(Entry("summary", "summary", summary, start))
        session.entries += _message(f"line-{index + 1}", item, zone, read, session)
    if summary and skip >= len(lines):
        session.entries.append(Entry("summary", "summary", summary, start))
    return session


def _legacy(file: Path, agent: str | None, zone: tzinfo, read: StoreRead) -> GatewaySession:
    data = json_file(file, read)
    data = data if isinstance(data, dict) else {}
    key = str(data.get("key") or file.stem)
    session = GatewaySession("picoclaw", key, key, _address(agent, None, [key]),
                             source=str(file))
    session.started_at = parse_time(data.get("created"), zone, read)
    raw = data.get("messages")
    messages: list[Any] = raw if isinstance(raw, list) else []
    for index, item in enumerate(messages):
        if isinstance(item, dict):
            session.entries += _message(f"legacy-{index + 1}", item, zone, read, session)
    if isinstance(data.get("summary"), str) and data["summary"]:
        session.entries.insert(0, Entry("summary", "summary", data["summary"],
                                        parse_time(data.get("created"), zone, read)))
    return session


def _message(entry_id: str, item: dict[str, Any], zone: tzinfo, read: StoreRead,
             session: GatewaySession) -> list[Entry]:
    role, content = item.get("role"), item.get("content")
    text = content if isinstance(content, str) else ""
    when = parse_time(item.get("created_at"), zone, read)
    if role == "user":
        return [Entry(entry_id, "user", text, when)]
    if role == "assistant":
        found = [Entry(entry_id, "assistant", text, when)] if text else []
        for index, call in enumerate(item.get("tool_calls") or []):
            function = call.get("function", {}) if isinstance(call, dict) else {}
            found.append(Entry(f"{entry_id}/call-{index}", "tool",
                               f"{function.get('name')}({function.get('arguments')})", when,
                               meta={"tool_call_id": call.get("id")
                                     if isinstance(call, dict) else None}))
        return found
    if role == "tool":
        return [Entry(entry_id, "tool", text or "(no output)", when,
                      meta={"tool_call_id": item.get("tool_call_id")})]
    session.skip(f"{role} messages")
    return []


def _address(agent: str | None, scope_data: dict[str, Any] | None,
             keys: list[str]) -> Address:
    scope = parse_scope(scope_data) if scope_data else None
    if scope is not None:
        address = Address(agent=agent or scope.agent, platform=scope.channel,
                          account=scope.account)
        for dimension, value in scope.values.items():
            _apply(address, dimension, value)
        if address.chat is None:
            _from_aliases(address, keys)
        return address
    address = Address(agent=agent or "main")
    _from_aliases(address, keys)
    return address


def _apply(address: Address, dimension: str, value: str) -> None:
    kind, _, rest = value.partition(":")
    if dimension == "chat" and rest:
        address.chat_type = _CHAT_TYPES.get(kind, "group")
        chat, _, topic = rest.partition("/") if address.platform == "telegram" else (rest, "", "")
        address.chat, address.topic = chat, topic or address.topic
    elif dimension == "space" and rest:
        address.space = rest
    elif dimension == "topic":
        address.topic = rest or value
    elif dimension == "sender":
        address.peer = value


def _from_aliases(address: Address, keys: list[str]) -> None:
    """A readable alias (`agent:main:telegram:direct:123`) names what the hash hides."""
    for key in keys:
        parsed = alias_keys.parse(key)
        if parsed is None or not parsed.chat_session or parsed.scope == "main":
            continue
        address.platform = address.platform or parsed.platform
        address.chat_type = address.chat_type or parsed.chat_type
        chat = parsed.chat or ""
        if "/" in chat and (address.platform == "telegram"):
            chat, _, topic = chat.partition("/")
            address.topic = address.topic or topic
        address.chat = address.chat or chat or None
        address.peer = address.peer or parsed.sender
        if parsed.agent and address.agent == "main":
            address.agent = parsed.agent
        if address.chat is not None:
            return
