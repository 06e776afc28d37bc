"""OpenClaw's store: `agents/<id>/sessions/sessions.json` and the JSONL transcripts.

Formats read (OpenClaw `src/config/sessions/`; transcripts are pi-coding-agent's, versions
1-3): a header line `{type: session, version, id, timestamp}`, then entries `{type, id,
parentId, timestamp}` forming a tree whose active branch runs back from the last entry
(v1 has no ids: every line in order). Messages are `user`, `assistant` (text, thinking
and `toolCall` blocks) and `toolResult`; `compaction` entries carry a summary of what
came before `firstKeptEntryId`. Inbound metadata (sender, message id) sits in the user
text's "untrusted metadata" JSON blocks. Archived transcripts (`*.jsonl.reset.<time>`,
`.deleted.`) are earlier epochs of the key whose lineage names them (lineage.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from projections.gateways.openclaw import keys
from workers.gateways.lines import json_file, json_lines
from workers.gateways.openclaw.lineage import Lineage
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import parse_time

_META_BLOCK = re.compile(
    r"(Conversation info|Sender) \(untrusted metadata\):\s*```(?:json)?\s*(\{.*?\})\s*```\s*",
    re.DOTALL)
# The time prefix OpenClaw puts before inbound text: `[Sun 2026-03-01 11:00 UTC] `
_ENVELOPE = re.compile(
    r"\A\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d{2}-\d{2} \d{2}:\d{2}"
    r"(?::\d{2})?(?: [A-Za-z][\w+\-:/]*)?\]\s?")
_ARCHIVED = re.compile(r"^(?P<sid>.+?)\.jsonl\.(?P<why>reset|deleted|bak)\.(?P<at>.+)$")
_TOPIC_FILE = re.compile(r"^(?P<sid>.+)-topic-(?P<topic>[^.]+)\.jsonl$")
# A transcript as read: its header line (None before version 1's) and its other lines
Transcript = tuple[dict[str, Any] | None, list[tuple[int, dict[str, Any]]]]
_SKIPPED_TYPES = {"model_change", "thinking_level_change", "label", "session_info", "custom",
                  "custom_message", "branch_summary"}


def read_store(path: Path, agent: str | None, zone: tzinfo, *,
               follow_links: bool = False) -> StoreRead:
    read = StoreRead("openclaw", str(path), follow_links=follow_links)
    folders = _session_folders(path, agent)
    if not folders:
        read.problem(path, "no agents/<id>/sessions folder or sessions.json here; point PATH "
                     "at OpenClaw's state dir (~/.openclaw) or an agent's sessions folder")
    for agent_id, folder in folders:
        _read_folder(agent_id, folder, zone, read)
    return read


def _session_folders(path: Path, agent: str | None) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(agent or path.parent.parent.name or "main", path.parent)]
    if (path / "agents").is_dir():
        return [(d.name, d / "sessions") for d in sorted((path / "agents").iterdir())
                if (d / "sessions").is_dir() and (agent is None or d.name == agent)]
    if (path / "sessions").is_dir():
        return [(agent or path.name, path / "sessions")]
    if (path / "sessions.json").exists() or any(path.glob("*.jsonl")):
        return [(agent or path.parent.name or "main", path)]
    return []


def _read_folder(agent: str, folder: Path, zone: tzinfo, read: StoreRead) -> None:
    index = _index(folder, read)
    lineage = Lineage()
    for key, entry in index.items():
        lineage.add_entry(key, entry)
    used: set[Path] = set()
    for key, entry in index.items():
        address = _address(agent, key, entry)
        for file, topic in _transcripts(folder, entry):
            used.add(file)
            where = address if topic is None else _with_topic(address, topic)
            transcript = _transcript(file, read)
            lineage.add_header(key, entry, transcript[0])
            read.sessions.append(_session(key, entry["sessionId"], where, file, 0, transcript,
                                          zone, read))
    lineage.add_backups(folder, read)
    _read_archives(agent, folder, used, index, lineage, zone, read)


def _index(folder: Path, read: StoreRead) -> dict[str, dict[str, Any]]:
    """The sessions.json entries that name a session id; every other one is reported."""
    index = json_file(folder / "sessions.json", read)
    if index is not None and not isinstance(index, dict):
        read.problem(folder / "sessions.json", "not an object of session entries; skipped")
        index = None
    found: dict[str, dict[str, Any]] = {}
    for key, entry in (index or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sessionId"), str):
            read.problem(folder / "sessions.json", f"entry {key!r} has no sessionId; skipped")
            continue
        found[str(key)] = entry
    return found


def _read_archives(agent: str, folder: Path, used: set[Path], index: dict[str, dict[str, Any]],
                   lineage: Lineage, zone: tzinfo, read: StoreRead) -> None:
    """Transcripts no entry names: reset or deleted archives of a key become its earlier
    epochs (oldest first, by the time in their name); the rest keep their own session id."""
    epochs: dict[str, list[tuple[str, GatewaySession]]] = {}
    orphans = 0
    for file in sorted(folder.iterdir()):
        if file in used or not file.is_file():
            continue
        archived = _ARCHIVED.match(file.name)
        if not archived and file.suffix != ".jsonl":
            continue
        base = archived.group("sid") if archived else file.stem
        topic = _TOPIC_FILE.match(f"{base}.jsonl")
        transcript = _transcript(file, read)
        owner = None
        if archived and archived.group("why") in ("reset", "deleted"):
            owner = lineage.owner(topic.group("sid") if topic else base, transcript[0], index)
        if owner is None:
            orphans += 1
            read.sessions.append(_session(f"orphan:{base}", base, Address(agent), file, -1,
                                          transcript, zone, read))
            continue
        key, entry = owner
        address = _address(agent, key, entry)
        if topic is not None:
            address = _with_topic(address, topic.group("topic"))
        session = _session(key, base, address, file, -1, transcript, zone, read)
        read.sessions.append(session)
        epochs.setdefault(key, []).append((archived.group("at") if archived else "", session))
    for found in epochs.values():
        found.sort(key=lambda item: item[0])
        for rank, (_, session) in enumerate(found):
            session.epoch = rank - len(found)
    _archive_notes(sum(len(found) for found in epochs.values()), orphans, lineage, read)


def _archive_notes(linked: int, orphans: int, lineage: Lineage, read: StoreRead) -> None:
    if linked:
        read.notes.append(f"{linked} archived transcript(s) (/reset or deleted) imported as "
                          "earlier epochs of their key, a session.reset before each later one")
    if orphans:
        ambiguous = (f", {lineage.ambiguous} of them claimed by more than one key"
                     if lineage.ambiguous else "")
        read.notes.append(f"{orphans} transcript(s) tied to no session key (no sessions.json "
                          f"entry, lineage or store backup names their session id{ambiguous}): "
                          "imported under their session id, chat unknown")


def _transcripts(folder: Path, entry: dict[str, Any]) -> list[tuple[Path, str | None]]:
    sid = entry["sessionId"]
    found: list[tuple[Path, str | None]] = []
    named = entry.get("sessionFile")
    # A relative sessionFile is the folder's; an absolute one stays itself (`/` keeps it)
    main = folder / (named if isinstance(named, str) and named else f"{sid}.jsonl")
    if main.exists():
        found.append((main, None))
    for file in sorted(folder.glob(f"{sid}-topic-*.jsonl")):
        match = _TOPIC_FILE.match(file.name)
        if match:
            found.append((file, match.group("topic")))
    return found


def _address(agent: str, key: str, entry: Mapping[str, Any]) -> Address:
    parsed = keys.parse(key)
    origin: dict[str, Any] = entry.get("origin") or {}
    delivery: dict[str, Any] = entry.get("deliveryContext") or {}
    if not isinstance(origin, dict):
        origin = {}
    if not isinstance(delivery, dict):
        delivery = {}
    platform = (parsed.platform if parsed and parsed.platform else None) or _first(
        entry.get("channel"), entry.get("provider"), entry.get("lastChannel"),
        origin.get("provider"), delivery.get("channel"))
    stored_type = _chat_type(origin.get("chatType") or entry.get("chatType"))
    chat_type = (parsed.chat_type if parsed and parsed.chat_type else None) or stored_type
    if stored_type == "dm" and chat_type == "channel":
        chat_type = "dm"  # a DM keyed by its room (Matrix dm.sessionScope per-room)
    target = _strip_target(_first(delivery.get("to"), entry.get("lastTo"), origin.get("to")))
    chat = (parsed.chat if parsed and parsed.chat else None) or _first(
        entry.get("groupId"), origin.get("nativeChannelId"), target)
    peer = (parsed.sender if parsed and parsed.sender else None) or _first(
        origin.get("nativeDirectUserId"), target if chat_type == "dm" else None)
    topic = (parsed.topic if parsed and parsed.topic else None) or _first(
        delivery.get("threadId"), origin.get("threadId"), entry.get("lastThreadId"))
    account = (parsed.account if parsed and parsed.account else None) or _first(
        delivery.get("accountId"), entry.get("lastAccountId"), origin.get("accountId"))
    return Address(agent=(parsed.agent if parsed and parsed.agent else agent),
                   platform=platform, account=account or "default",
                   space=_first(entry.get("space")), chat=chat, chat_type=chat_type or "dm",
                   topic=topic, peer=peer)


def _with_topic(address: Address, topic: str) -> Address:
    return Address(address.agent, address.platform, address.account, address.space,
                   address.chat, address.chat_type, topic, address.peer)


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _chat_type(value: Any) -> str | None:
    return {"direct": "dm", "dm": "dm", "group": "group", "channel": "channel"}.get(
        str(value).lower()) if value else None


def _strip_target(value: str | None) -> str | None:
    """`channel:C123`, `user:42`, `telegram:-100:topic:9` -> the chat id."""
    if value is None:
        return None
    for prefix in ("channel:", "user:", "group:", "chat:"):
        if value.startswith(prefix):
            value = value[len(prefix):]
    return value.split(":topic:")[0]


def _transcript(file: Path, read: StoreRead) -> Transcript:
    """A transcript's header line (None before version 1's) and its other lines."""
    lines = list(json_lines(file, read))
    if lines and lines[0][1].get("type") == "session":
        return lines[0][1], lines[1:]
    return None, lines


def _session(key: str, sid: str, address: Address, file: Path, epoch: int,
             transcript: Transcript, zone: tzinfo, read: StoreRead) -> GatewaySession:
    session = GatewaySession("openclaw", key, sid, address, source=str(file), epoch=epoch)
    header, lines = transcript
    if header is not None and isinstance(header.get("id"), str) and epoch < 0:
        session.session_id = header["id"]
    starts: dict[str, int] = {}  # entry id -> how many entries were read before it
    summaries: list[tuple[int, Entry]] = []
    for number, item in _active_branch(lines, session):
        if isinstance(item.get("id"), str):
            starts.setdefault(item["id"], len(session.entries))
        if item.get("type") == "compaction":
            placed = _compaction(item, number, starts, session, zone, read)
            if placed is not None:
                summaries.append(placed)
        else:
            _entry(item, number, session, zone, read)
    # A summary covers the entries before it in the list. The gateway keeps the entries
    # from firstKeptEntryId on (up to the compaction) in context beside the summary, so
    # the summary goes where they begin; without a kept entry on the branch it covers
    # everything before the compaction, as the gateway's context then holds nothing older.
    for index in sorted(range(len(summaries)), key=lambda i: (summaries[i][0], i),
                        reverse=True):  # the last place first: earlier places stay put
        session.entries.insert(*summaries[index])
    return session


def _compaction(item: dict[str, Any], number: int, starts: dict[str, int],
                session: GatewaySession, zone: tzinfo,
                read: StoreRead) -> tuple[int, Entry] | None:
    """The compaction's summary and where it goes: before the first entry it kept."""
    summary = item.get("summary")
    if not isinstance(summary, str) or not summary:
        session.skip("compaction entries without a summary")
        return None
    kept = item.get("firstKeptEntryId")
    at = starts.get(kept, len(session.entries)) if isinstance(kept, str) else len(session.entries)
    entry_id = str(item.get("id") or f"line-{number}")
    when = parse_time(item.get("timestamp"), zone, read)
    return at, Entry(entry_id, "summary", summary, when, meta={"first_kept_entry_id": kept})


def _active_branch(lines: list[tuple[int, dict[str, Any]]],
                   session: GatewaySession) -> list[tuple[int, dict[str, Any]]]:
    """v2/v3: the chain of parentId back from the last entry; v1 (no ids): every line."""
    with_ids = [(n, item) for n, item in lines if isinstance(item.get("id"), str)]
    if not with_ids:
        return lines
    by_id = {item["id"]: (n, item) for n, item in with_ids}
    chain = []
    current: tuple[int, dict[str, Any]] | None = with_ids[-1]
    for _ in range(len(by_id) + 1):  # bounded: a parent cycle cannot loop forever
        if current is None:
            break
        chain.append(current)
        parent = current[1].get("parentId")
        current = by_id.get(parent) if isinstance(parent, str) else None
    off_branch = len(with_ids) - len(chain)
    if off_branch:
        session.skip("entries on abandoned branches", off_branch)
    return list(reversed(chain))


def _entry(item: dict[str, Any], number: int, session: GatewaySession, zone: tzinfo,
           read: StoreRead) -> None:
    kind = item.get("type", "message" if "role" in item else None)
    entry_id = str(item.get("id") or f"line-{number}")
    when = parse_time(item.get("timestamp"), zone, read)
    if kind != "message":
        session.skip(f"{kind} entries" if kind in _SKIPPED_TYPES else "entries of unknown type")
        return
    nested = item.get("message")
    message: dict[str, Any] = nested if isinstance(nested, dict) else item
    role = message.get("role")
    when = parse_time(message.get("timestamp"), zone, read) or when
    if role == "user":
        _user(message, entry_id, when, session)
    elif role == "assistant":
        _assistant(message, entry_id, when, session)
    elif role == "toolResult":
        text = _text(message.get("content"))
        session.entries.append(Entry(entry_id, "tool", text or "(no output)", when, meta={
            "tool_call_id": message.get("toolCallId"), "tool": message.get("toolName"),
            "is_error": bool(message.get("isError"))}))
    else:
        session.skip(f"{role} messages" if isinstance(role, str) else "messages without role")


def _user(message: dict[str, Any], entry_id: str, when: Any, session: GatewaySession) -> None:
    text = _text(message.get("content"))
    info: dict[str, Any] = {}
    for match in _META_BLOCK.finditer(text):
        try:
            block = json.loads(match.group(2))
        except ValueError:
            continue
        if isinstance(block, dict):
            info.update({f"{match.group(1).split()[0].lower()}.{k}": v for k, v in block.items()})
    visible = _META_BLOCK.sub("", text).strip() if info else text
    envelope = _ENVELOPE.match(visible.lstrip())
    if envelope:  # only that prefix goes: the text after it is kept as written
        visible = visible.lstrip()[envelope.end():]
    sender = _first(info.get("conversation.sender_id"), info.get("sender.id"))
    name = _first(info.get("conversation.sender"), info.get("sender.name"),
                  info.get("sender.label"))
    message_id = _first(info.get("conversation.message_id"))
    session.entries.append(Entry(entry_id, "user", visible or text, when, sender=sender,
                                 sender_name=name, message_id=message_id))


def _assistant(message: dict[str, Any], entry_id: str, when: Any,
               session: GatewaySession) -> None:
    content = message.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    text = "".join(b.get("text", "") for b in blocks
                   if isinstance(b, dict) and b.get("type") == "text"
                   and isinstance(b.get("text"), str))
    meta = {"model": message.get("model"), "provider": message.get("provider")}
    if text:
        session.entries.append(Entry(entry_id, "assistant", text, when, meta=meta))
    for index, block in enumerate(b for b in blocks
                                  if isinstance(b, dict) and b.get("type") == "toolCall"):
        arguments = json.dumps(block.get("arguments"), ensure_ascii=False, default=str)
        session.entries.append(Entry(f"{entry_id}/call-{index}", "tool",
                                     f"{block.get('name')}({arguments})", when,
                                     meta={"tool_call_id": block.get("id")}))
    if not text and not any(isinstance(b, dict) and b.get("type") == "toolCall"
                            for b in blocks):
        session.skip("assistant messages without text (thinking only)")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text", "") if isinstance(b, dict) and b.get("type") == "text"
                 else "[image]" if isinstance(b, dict) and b.get("type") == "image" else ""
                 for b in content]
        return "".join(parts)
    return ""
