"""What a legacy key is rendered from: one session's address and grouping, as the placer saw it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Kind = Literal["dm", "chat"]
NO_SETTINGS: Mapping[str, str] = MappingProxyType({})

_VALID_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$", re.IGNORECASE)
_INVALID_RUN = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class LegacyView:
    """One session as the gateways would key it; the renderers decide what they can express.

    `grouping` lists the key parts after agent/platform/account (and rule) for a chat
    session: ("chat", id), ("space", id), ("group", name), ("sender" | "person", id).
    `native_chat` is true when the chat part is the chat itself (not its group or guild).
    """

    kind: Kind
    agent: str
    platform: str
    account: str
    chat: str
    chat_type: str
    space: str | None = None
    topic: str | None = None
    sender: str | None = None
    person: str | None = None
    dm_scope: str = "per-channel-peer"
    dimensions: tuple[str, ...] = ("chat",)
    grouping: tuple[tuple[str, str], ...] = ()
    native_chat: bool = True
    rule: str | None = None
    thread_sender: bool = False
    main_key: str = "main"
    space_types: Mapping[str, str] = field(default_factory=lambda: NO_SETTINGS, hash=False)

    @property
    def is_thread(self) -> bool:
        return self.topic is not None

    @property
    def peer(self) -> str | None:
        """The DM peer as the gateways name it: the linked identity, else the sender."""
        return self.person or self.sender

    def grouped_by(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.grouping)


def normalize_agent_id(value: str) -> str:
    """OpenClaw's and PicoClaw's agent id: lower case, path-safe, 'main' when empty."""
    trimmed = value.strip()
    if not trimmed:
        return "main"
    if _VALID_ID.match(trimmed):
        return trimmed.lower()
    collapsed = _INVALID_RUN.sub("-", trimmed.lower()).strip("-")[:64]
    return collapsed or "main"


def normalize_account_id(value: str | None) -> str:
    """The gateways' account id: lower case, path-safe, 'default' when empty."""
    trimmed = (value or "").strip()
    if not trimmed:
        return "default"
    if _VALID_ID.match(trimmed):
        return trimmed.lower()
    collapsed = _INVALID_RUN.sub("-", trimmed.lower()).strip("-")[:64]
    return collapsed or "default"
