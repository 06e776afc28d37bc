"""PicoClaw's store: `<workspace>/sessions/*.jsonl` with `*.meta.json`, and legacy `*.json`.

Formats read (PicoClaw `pkg/memory`, `pkg/session`): one message a line (`role`,
`content`, optional `created_at`, `tool_calls`, `tool_call_id`), no message ids; the meta
file holds the real key, the scope (version, agent, channel, account, dimensions and
values), the aliases, one summary and `skip` (leading lines summarised away). Legacy
`*.json` sessions are `{key, messages, summary, created, updated}`; `*.json.migrated`
ones were already moved into JSONL.

Quirks of the store kept: `skip` counts every non-empty line, a damaged one too (PicoClaw
reads past a line a crash cut short); a time PicoClaw never set is Go's zero time
(`0001-01-01T00:00:00Z`), read as no time; a JSONL without its meta file (a crash between
the two writes) is named by its sanitised key (`:` written `_`), whose readable form is
recovered; a named agent's workspace is `workspace-<id>`; ids in scopes are lower-cased.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from eventlog.edge import EARLIEST_TIME
from projections.gateways.openclaw import keys as alias_keys
from projections.gateways.picoclaw.keys import OPAQUE_PREFIX, parse_scope
from workers.gateways.lines import json_file, json_lines
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import parse_time

_CHAT_TYPES = {"direct": "dm", "group": "group", "channel": "channel"}
# Platforms whose ids are digits: PicoClaw's lower-casing of scope values loses nothing
_NUMERIC_IDS = {"telegram", "discord", "whatsapp"}


def read_store(path: Path, agent: str | None, zone: tzinfo, *,
               follow_links: bool = False) -> StoreRead:
    read = StoreRead("picoclaw", str(path), follow_links=follow_links)
    folder = path / "sessions" if (path / "sessions").is_dir() else path
    if not folder.is_dir():
        read.problem(path, "no sessions folder here; point PATH at PicoClaw's workspace "
                     "(~/.picoclaw/workspace) or its sessions folder")
        return read
    workspace = folder.parent if folder.name == "sessions" else folder
    if agent is None and workspace.name.startswith("workspace-"):
        agent = workspace.name.removeprefix("workspace-") or None  # a named agent's own
    for file in sorted(folder.glob("*.jsonl")):
        meta_file = file.with_name(file.name.removesuffix(".jsonl") + ".meta.json")
        meta = json_file(meta_file, read) if meta_file.exists() else None
        read.sessions.append(_session(file, meta if isinstance(meta, dict) else {},
                                      meta_file.exists(), agent, zone, read))
    for file in sorted(folder.glob("*.json")):
        if file.name.endswith(".meta.json"):
            continue
        read.sessions.append(_legacy(file, agent, zone, read))
    migrated = len(list(folder.glob("*.json.migrated")))
    if migrated:
        read.notes.append(f"{migrated} legacy .json.migrated file(s) skipped: PicoClaw moved "
                          "their messages into the JSONL sessions read here")
    _case_note(read)
    return read


def _case_note(read: StoreRead) -> None:
    """PicoClaw lower-cases the ids in its scopes and aliases: say where that may matter."""
    lowered = sum(1 for s in read.sessions
                  if s.address.platform not in _NUMERIC_IDS
                  and any(v and any(c.isalpha() for c in v)
                          for v in (s.address.chat, s.address.space, s.address.peer)))
    if lowered:
        read.notes.append(f"{lowered} session(s) have ids with letters, which PicoClaw keeps "
                          "lower-cased: where the platform's ids have capitals (Slack's "
                          "C0123), its new events name them as they are and land apart "
                          "from the imported history")


def _session(file: Path, meta: dict[str, Any], has_meta: bool, agent: str | None,
             zone: tzinfo, read: StoreRead) -> GatewaySession:
    key = str(meta.get("key") or ("" if has_meta else _unsanitised(file.stem)) or file.stem)
    if not has_meta and key != file.stem:
        read.notes.append(f"{file.name}: no meta file; its key {key!r} was read back from the "
                          "file name, where PicoClaw wrote ':' as '_' (an id that had '_' "
                          "in it would read back wrong)")
    scope_data = meta.get("scope") if isinstance(meta.get("scope"), dict) else None
    aliases = [str(a) for a in meta.get("aliases") or [] if isinstance(a, str)]
    address = _address(agent, scope_data, [key, *aliases])
    session = GatewaySession("picoclaw", key, key, address, source=str(file), aliases=aliases,
                             scope=scope_data)
    start = _time(meta.get("created_at"), zone, read) or _time(meta.get("updated_at"), zone,
                                                               read)
    session.started_at = start
    dimensions = (scope_data or {}).get("dimensions") or []
    session.thread_known = (address.chat_type == "dm" or address.platform == "telegram"
                            or "topic" in dimensions)
    raw_skip = meta.get("skip")
    skip = raw_skip if isinstance(raw_skip, int) else 0
    summary = meta.get("summary") if isinstance(meta.get("summary"), str) else ""
    placed = False
    for index, (ordinal, item) in enumerate(_counted_lines(file, read)):
        if summary and not placed and ordinal > skip:
            session.entries.append(Entry("summary", "summary", summary, start))
            placed = True
        # the entry id is the good line's place, as in every earlier import of the store
        session.entries += _message(f"line-{index + 1}", item, zone, read, session)
    if summary and not placed:
        session.entries.append(Entry("summary", "summary", summary, start))
    return session


def _counted_lines(file: Path, read: StoreRead) -> list[tuple[int, dict[str, Any]]]:
    """Each good line with its place as PicoClaw counts lines for `skip`: every non-empty
    line, one it cannot parse too."""
    items = list(json_lines(file, read))  # reports what it cannot read
    if not items:
        return []
    try:
        raw = file.read_bytes()
    except OSError:
        raw = b""
    ordinals: dict[int, int] = {}
    count = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.removesuffix(b"\r"):
            count += 1
            ordinals[number] = count
    return [(ordinals.get(number, number), item) for number, item in items]


def _time(value: Any, zone: tzinfo, read: StoreRead) -> datetime | None:
    """A time of the meta file; Go's zero time (never set) is no time."""
    when = parse_time(value, zone, read)
    return when if when is not None and when >= EARLIEST_TIME else None


def _unsanitised(stem: str) -> str:
    """A readable key from its file name (`agent_main_telegram_direct_555`), when the name
    reads back as one; PicoClaw wrote `:` as `_`, so ids with `_` may not come back."""
    if stem.startswith(OPAQUE_PREFIX) or not stem.startswith("agent_"):
        return ""
    candidate = stem.replace("_", ":")
    parsed = alias_keys.parse(candidate)
    return candidate if parsed is not None and parsed.chat else ""


def _legacy(file: Path, agent: str | None, zone: tzinfo, read: StoreRead) -> GatewaySession:
    data = json_file(file, read)
    data = data if isinstance(data, dict) else {}
    key = str(data.get("key") or file.stem)
    session = GatewaySession("picoclaw", key, key, _address(agent, None, [key]),
                             source=str(file))
    session.started_at = _time(data.get("created"), zone, read) or _time(
        data.get("updated"), zone, read)
    raw = data.get("messages")
    messages: list[Any] = raw if isinstance(raw, list) else []
    for index, item in enumerate(messages):
        if isinstance(item, dict):
            session.entries += _message(f"legacy-{index + 1}", item, zone, read, session)
    if isinstance(data.get("summary"), str) and data["summary"]:
        session.entries.insert(0, Entry("summary", "summary", data["summary"],
                                        session.started_at))
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
        if address.chat_type is None and address.space is not None:
            address.chat_type = "group"  # a guild's traffic: no DM has a space
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
