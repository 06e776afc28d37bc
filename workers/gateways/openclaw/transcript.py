"""One OpenClaw transcript as a gateway session: its active branch, compactions, entries.

A transcript is pi-coding-agent's JSONL (versions 1-3): a header line, then entries
forming a tree whose active branch runs back from the last entry (v1 has no ids: every
line in order). Inbound metadata (sender, message id) sits in the user text's "untrusted
metadata" JSON blocks, and the gateway's time envelope before inbound text is taken off.
"""

from __future__ import annotations

import json
import re
from datetime import tzinfo
from pathlib import Path
from typing import Any

from workers.gateways.lines import json_lines
from workers.gateways.records import Address, Entry, GatewaySession, StoreRead
from workers.gateways.timeparse import parse_time

_META_BLOCK = re.compile(
    r"(Conversation info|Sender) \(untrusted metadata\):\s*```(?:json)?\s*(\{.*?\})\s*```\s*",
    re.DOTALL)
# The time prefix OpenClaw puts before inbound text: `[Sun 2026-03-01 11:00 UTC] `
_ENVELOPE = re.compile(
    r"\A\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d{2}-\d{2} \d{2}:\d{2}"
    r"(?::\d{2})?(?: [A-Za-z][\w+\-:/]*)?\]\s?")
# A transcript as read: its header line (None before version 1's) and its other lines
Transcript = tuple[dict[str, Any] | None, list[tuple[int, dict[str, Any]]]]
_SKIPPED_TYPES = {"model_change", "thinking_level_change", "label", "session_info", "custom",
                  "custom_message", "branch_summary"}


def read_transcript(file: Path, read: StoreRead) -> Transcript:
    """A transcript's header line (None before version 1's) and its other lines."""
    lines = list(json_lines(file, read))
    if lines and lines[0][1].get("type") == "session":
        return lines[0][1], lines[1:]
    return None, lines


def transcript_session(key: str, sid: str, address: Address, file: Path, epoch: int,
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
    sender = first_text(info.get("conversation.sender_id"), info.get("sender.id"))
    name = first_text(info.get("conversation.sender"), info.get("sender.name"),
                  info.get("sender.label"))
    message_id = first_text(info.get("conversation.message_id"))
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


def first_text(*values: Any) -> str | None:
    """The first of `values` that is a non-blank string or an integer, stripped."""
    for value in values:
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None
