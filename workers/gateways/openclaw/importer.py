"""OpenClaw's store: `agents/<id>/sessions/sessions.json` and the JSONL transcripts.

Formats read (OpenClaw `src/config/sessions/`; transcripts are pi-coding-agent's, versions
1-3): a header line `{type: session, version, id, timestamp}`, then entries `{type, id,
parentId, timestamp}` forming a tree whose active branch runs back from the last entry
(v1 has no ids: every line in order). Messages are `user`, `assistant` (text, thinking
and `toolCall` blocks) and `toolResult`; `compaction` entries carry a summary of what
came before `firstKeptEntryId`. Inbound metadata (sender, message id) sits in the user
text's "untrusted metadata" JSON blocks. Archived transcripts (`*.jsonl.reset.<time>`,
`.deleted.`) are earlier epochs of the key whose lineage names them (lineage.py). Copies
are not sessions: a compaction's pre-compaction checkpoint (`<id>.checkpoint.<uuid>.jsonl`,
a byte copy of the transcript) and a transcript backup (`*.jsonl.bak.<time>`) are skipped,
named in the report, when the transcript they copy is read; a runtime trajectory
(`*.trajectory.jsonl`) is no transcript at all. Which files are read, and as which key
and epoch, is decided here; one transcript is read by transcript.py.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from projections.gateways.openclaw import keys
from workers.gateways.lines import json_file
from workers.gateways.openclaw.lineage import Lineage
from workers.gateways.openclaw.transcript import (
    first_text,
    read_transcript,
    transcript_session,
)
from workers.gateways.records import Address, GatewaySession, StoreRead

_ARCHIVED = re.compile(r"^(?P<sid>.+?)\.jsonl\.(?P<why>reset|deleted|bak)\.(?P<at>.+)$")
# `<sessionId>-topic-<threadId>.jsonl`, the thread id URL-encoded (a Slack ts keeps its dot)
_TOPIC_FILE = re.compile(r"^(?P<sid>.+)-topic-(?P<topic>.+)\.jsonl$")
# A compaction's checkpoint: a byte copy of `<parent>.jsonl` taken before it compacted
_CHECKPOINT = re.compile(r"^(?P<parent>.+)\.checkpoint\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                         r"[0-9a-f]{4}-[0-9a-f]{12}\.jsonl$", re.IGNORECASE)
_TRAJECTORY = ".trajectory.jsonl"
# What the report says of files that are not sessions of their own (after their count)
_CHECKPOINT_COPIES = ("compaction checkpoint(s) skipped: a copy of a transcript taken "
                      "before it compacted, whose entries are imported once, from it")
_BACKUP_COPIES = ("transcript backup(s) (.bak) skipped: a copy of a transcript whose "
                  "entries are imported once, from it")
_NOT_TRANSCRIPTS = "runtime trajectory file(s) skipped: OpenClaw's traces, not transcripts"


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
        for rank, (file, topic) in enumerate(_transcripts(folder, entry)):
            used.add(file)
            where = address if topic is None else _with_topic(address, topic)
            transcript = read_transcript(file, read)
            lineage.add_header(key, entry, transcript[0])
            session = transcript_session(key, entry["sessionId"], where, file, 0, transcript,
                                         zone, read)
            # A key's main and topic transcripts share its session id: one epoch, no reset
            # between them (a thread's own session is kept apart by its address).
            session.continues = rank > 0
            read.sessions.append(session)
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
    epochs (oldest first, by the time in their name); the rest keep their own session id.
    Copies of a transcript that is read (checkpoints, backups) are skipped and counted."""
    epochs: dict[str, list[tuple[str, GatewaySession]]] = {}
    orphans = 0
    files = [f for f in sorted(folder.iterdir()) if f not in used and f.is_file()]
    read_bases = {f.name.removesuffix(".jsonl") for f in used} | {
        base for f in files if (base := _transcript_base(f.name)) is not None}
    copies: dict[str, int] = {}
    for file in files:
        if file.name.endswith(_TRAJECTORY):
            copies[_NOT_TRANSCRIPTS] = copies.get(_NOT_TRANSCRIPTS, 0) + 1
            continue
        archived = _ARCHIVED.match(file.name)
        checkpoint = _CHECKPOINT.match(file.name)
        if not archived and file.suffix != ".jsonl":
            continue
        copied = (checkpoint.group("parent") if checkpoint
                  else archived.group("sid") if archived and archived.group("why") == "bak"
                  else None)
        if copied is not None and copied in read_bases:
            reason = _CHECKPOINT_COPIES if checkpoint else _BACKUP_COPIES
            copies[reason] = copies.get(reason, 0) + 1
            continue
        # A copy whose transcript is gone stands in for it: read like an archive of it
        base = copied if copied is not None else (archived.group("sid") if archived
                                                  else file.stem)
        topic = _TOPIC_FILE.match(f"{base}.jsonl")
        transcript = read_transcript(file, read)
        owner = None
        if copied is not None or archived:
            owner = lineage.owner(topic.group("sid") if topic else base, transcript[0], index)
            if owner is None and copied is not None:
                owner = _live_owner(topic.group("sid") if topic else base, index)
        if owner is None:
            orphans += 1
            read.sessions.append(transcript_session(f"orphan:{base}", base, Address(agent),
                                                    file, -1, transcript, zone, read))
            continue
        key, entry = owner
        address = _address(agent, key, entry)
        if topic is not None:
            address = _with_topic(address, unquote(topic.group("topic")))
        live = key in index and index[key]["sessionId"] == (topic.group("sid") if topic
                                                             else base)
        session = transcript_session(key, base, address, file, 0 if live else -1, transcript,
                                     zone, read)
        read.sessions.append(session)
        if not live:
            epochs.setdefault(key, []).append((archived.group("at") if archived else "",
                                               session))
    for found in epochs.values():
        found.sort(key=lambda item: item[0])
        for rank, (_, session) in enumerate(found):
            session.epoch = rank - len(found)
    _archive_notes(sum(len(found) for found in epochs.values()), orphans, lineage, read)
    for reason, count in copies.items():
        read.notes.append(f"{count} {reason}")


def _transcript_base(name: str) -> str | None:
    """The transcript a file is (`<base>.jsonl`) or archives (reset or deleted), else None."""
    archived = _ARCHIVED.match(name)
    if archived:
        return archived.group("sid") if archived.group("why") != "bak" else None
    if name.endswith(".jsonl") and not _CHECKPOINT.match(name) and not name.endswith(_TRAJECTORY):
        return name.removesuffix(".jsonl")
    return None


def _live_owner(session_id: str, index: dict[str, dict[str, Any]]
                ) -> tuple[str, dict[str, Any]] | None:
    """The key whose live session id this is (its own transcript missing)."""
    keys = [key for key, entry in index.items() if entry.get("sessionId") == session_id]
    return (keys[0], index[keys[0]]) if len(keys) == 1 else None


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
    prefix = f"{sid}-topic-"
    if main.exists():
        found.append((main, _topic_of(main.name, prefix)))
    for file in sorted(folder.glob(f"{glob.escape(prefix)}*.jsonl")):
        topic = _topic_of(file.name, prefix)
        if topic is not None and file != main:
            found.append((file, topic))
    return found


def _topic_of(name: str, prefix: str) -> str | None:
    """The thread of `<sessionId>-topic-<threadId>.jsonl` (URL-decoded), else None."""
    if not name.startswith(prefix) or _CHECKPOINT.match(name) or name.endswith(_TRAJECTORY):
        return None
    return unquote(name[len(prefix):-len(".jsonl")]) or None


def _address(agent: str, key: str, entry: Mapping[str, Any]) -> Address:
    parsed = keys.parse(key)
    origin: dict[str, Any] = entry.get("origin") or {}
    delivery: dict[str, Any] = entry.get("deliveryContext") or {}
    if not isinstance(origin, dict):
        origin = {}
    if not isinstance(delivery, dict):
        delivery = {}
    platform = (parsed.platform if parsed and parsed.platform else None) or first_text(
        entry.get("channel"), entry.get("provider"), entry.get("lastChannel"),
        origin.get("provider"), delivery.get("channel"))
    stored_type = _chat_type(origin.get("chatType") or entry.get("chatType"))
    chat_type = (parsed.chat_type if parsed and parsed.chat_type else None) or stored_type
    if stored_type == "dm" and chat_type == "channel":
        chat_type = "dm"  # a DM keyed by its room (Matrix dm.sessionScope per-room)
    target = _strip_target(first_text(delivery.get("to"), entry.get("lastTo"), origin.get("to")))
    chat = (parsed.chat if parsed and parsed.chat else None) or first_text(
        entry.get("groupId"), origin.get("nativeChannelId"), target)
    peer = (parsed.sender if parsed and parsed.sender else None) or first_text(
        origin.get("nativeDirectUserId"), target if chat_type == "dm" else None)
    topic = (parsed.topic if parsed and parsed.topic else None) or first_text(
        delivery.get("threadId"), origin.get("threadId"), entry.get("lastThreadId"))
    account = (parsed.account if parsed and parsed.account else None) or first_text(
        delivery.get("accountId"), entry.get("lastAccountId"), origin.get("accountId"))
    return Address(agent=(parsed.agent if parsed and parsed.agent else agent),
                   platform=platform, account=account or "default",
                   space=first_text(entry.get("space")), chat=chat, chat_type=chat_type or "dm",
                   topic=topic, peer=peer)


def _with_topic(address: Address, topic: str) -> Address:
    return Address(address.agent, address.platform, address.account, address.space,
                   address.chat, address.chat_type, topic, address.peer)


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
