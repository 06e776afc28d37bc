"""A gateway's session key read back: the chat, thread and sender it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """What a legacy key names. `scope` says how the gateway grouped it (e.g. 'per-peer')."""

    gateway: str
    key: str
    scope: str
    agent: str | None = None
    platform: str | None = None
    account: str | None = None
    chat: str | None = None
    chat_type: str | None = None
    topic: str | None = None
    sender: str | None = None
    opaque: bool = False
    chat_session: bool = True
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway, "key": self.key, "scope": self.scope,
            "agent": self.agent, "platform": self.platform, "account": self.account,
            "chat": self.chat, "chat_type": self.chat_type, "topic": self.topic,
            "sender": self.sender, "opaque": self.opaque, "chat_session": self.chat_session,
            "notes": list(self.notes),
        }

    def probe_event(self) -> dict[str, Any] | None:
        """An event at the address the key names, or None when it names no chat."""
        if not self.chat_session or self.agent is None:
            return None
        platform, chat = self.platform, self.chat or self.sender
        if self.scope == "main":  # every DM of the agent: any one address stands for them
            platform, chat = platform or "unknown", chat or "unknown"
        if platform is None or chat is None:
            return None
        event: dict[str, Any] = {
            "type": "message.received", "agent": self.agent, "platform": platform,
            "account": self.account or "default", "chat": chat,
            "chat_type": self.chat_type or "dm", "sender": self.sender or chat,
        }
        if self.topic is not None:
            event["topic"] = self.topic
        return event
