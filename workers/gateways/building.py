"""Gateway sessions as convlog events: deterministic ids, the gateway's ids kept in `meta`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventlog.events import Event, Rejection, parse_event
from workers.gateways.records import Entry, GatewaySession

EPOCH_START = datetime(1970, 1, 2, tzinfo=UTC)


@dataclass
class Built:
    """The events of one gateway session and what could not be recovered for them."""

    session: GatewaySession
    events: list[Event] = field(default_factory=list)
    summaries: list[tuple[Entry, str | None]] = field(default_factory=list)  # entry, covered id
    rejected: dict[str, int] = field(default_factory=dict)
    unrecovered: dict[str, int] = field(default_factory=dict)
    received: int = 0

    def miss(self, what: str) -> None:
        self.unrecovered[what] = self.unrecovered.get(what, 0) + 1


def event_id(session: GatewaySession, entry_id: str, kind: str) -> str:
    """Stable across runs and machines: the gateway, agent, session id and entry id."""
    basis = "|".join((session.gateway, session.address.agent, session.session_id, entry_id, kind))
    return "imp:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def build(session: GatewaySession, *, reset_before: bool = False,
          covered_before: str | None = None) -> Built:
    """Every entry as an event; `reset_before` opens the session with a session.reset.

    `covered_before` is the last event of the session this one continues (a compression
    chain), which a summary at its very start covers."""
    built = Built(session)
    address = session.address
    chat = address.chat or address.peer
    if chat is None:
        chat = session.key
        built.miss("chat")
    envelope: dict[str, Any] = {
        "agent": address.agent, "platform": address.platform or "unknown",
        "account": address.account or "default", "chat": chat,
        "chat_type": address.chat_type or "dm",
    }
    if address.space:
        envelope["space"] = address.space
    if address.topic:
        envelope["topic"] = address.topic
    last_time = _first_time(session)
    last_received: str | None = None
    last_event_id = covered_before
    if reset_before and session.entries:
        reset = {**envelope, "type": "session.reset", "occurred_at": last_time,
                 "id": event_id(session, "reset", "session.reset"), "meta": _meta(session, None)}
        if address.peer:  # a DM's session is its peer's under the per-person DM scopes
            reset["sender"] = address.peer
        _add(built, reset)
    for entry in session.entries:
        if entry.occurred_at is None:
            built.miss("time")
        else:
            last_time = entry.occurred_at
        common = {**envelope, "occurred_at": last_time.isoformat(), "text": entry.text,
                  "meta": _meta(session, entry)}
        if entry.role == "summary":
            built.summaries.append((entry, last_event_id))
            continue
        if entry.role == "user":
            built.received += 1
            sender = entry.sender or address.peer
            if sender is None:
                built.miss("sender")
            if entry.message_id is None:
                built.miss("message_id")
            if not session.thread_known:
                built.miss("thread")
            message_id = entry.message_id or f"imp-{session.session_id}-{entry.entry_id}"
            data = {**common, "type": "message.received", "sender": sender or "unknown",
                    "message_id": message_id}
            if entry.sender_name:
                data["sender_name"] = entry.sender_name[:512]
            last_received = message_id
        else:
            kind = "message.sent" if entry.role == "assistant" else "tool.used"
            data = {**common, "type": kind, "reply_to": entry.reply_to or last_received
                    or f"imp-{session.session_id}-start"}
            if kind == "message.sent":
                own = f"imp-{session.session_id}-{entry.entry_id}"
                data["message_id"] = entry.message_id or own
        data["id"] = event_id(session, entry.entry_id, data["type"])
        if _add(built, data):
            last_event_id = data["id"]
    return built


def _add(built: Built, data: dict[str, Any]) -> bool:
    parsed = parse_event(data)
    if isinstance(parsed, Rejection):
        built.rejected[parsed.code] = built.rejected.get(parsed.code, 0) + 1
        return False
    built.events.append(parsed)
    return True


def _meta(session: GatewaySession, entry: Entry | None) -> dict[str, Any]:
    found: dict[str, Any] = {"gateway": session.gateway, "key": session.key,
                             "session_id": session.session_id, "source": session.source}
    if entry is not None:
        found["entry_id"] = entry.entry_id
        found.update({k: v for k, v in entry.meta.items() if k not in found})
    return {"import": found}


def _first_time(session: GatewaySession) -> datetime:
    if session.started_at is not None:
        return session.started_at
    for entry in session.entries:
        if entry.occurred_at is not None:
            return entry.occurred_at
    return EPOCH_START
