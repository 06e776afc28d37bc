"""Hermes agent's session keys: `agent:<profile>:<platform>:<slot>[:<workspace>]:<chat>`,
then `[:<thread>][:<user>]`.

As Hermes's `gateway/session.py` (`build_session_key`) builds them and its
`tests/gateway/test_session.py` pins them:

- DMs are keyed by chat id, then thread; the sender never joins a DM key that has a chat.
- Group chats add the sender when `group_sessions_per_user` (default on) and the chat is
  not a thread; threads add it only when `thread_sessions_per_user` (default off).
- The slot is the chat type, except a Discord thread (Hermes's chat type `thread`, and
  the auto-thread a channel message opens): `agent:main:discord:thread:<chat>:<thread>`.
- A Slack workspace (convlog's `space`) stands before the chat id, in DMs too; Discord
  guilds never join a key.
- WhatsApp ids are canonical: no `@server`, no `:device`, no leading `+`.
- No part is lower-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from projections.gateways.parsed import ParsedKey
from projections.gateways.view import LegacyView

_DM_SCOPES = ("per-channel-peer", "per-account-channel-peer")
_THREAD_SLOT_PLATFORMS = ("discord",)  # whose threads Hermes keys under the `thread` slot
_WORKSPACE_PLATFORMS = ("slack",)  # whose workspace id Hermes puts in the key
_WORKSPACE_PREFIXES = ("T", "E")  # Slack team / enterprise ids; conversations are C, G, D
_SLACK_THREAD = re.compile(r"^\d+\.\d+$")  # a Slack thread is its root's timestamp


def canonical_whatsapp_id(value: str) -> str:
    """`15551234567:47@s.whatsapp.net`, `+15551234567` -> `15551234567` (LID maps aside)."""
    user = value.strip().partition("@")[0]
    user = user.partition(":")[0]
    return user.removeprefix("+")


def _canonical(view: LegacyView, value: str) -> str:
    """Hermes's id for a WhatsApp user: a LID linked to its phone (identity_links, as
    `policy convert` writes them from the bridge's mapping files) becomes the phone."""
    if view.platform != "whatsapp":
        return value
    linked = view.person if view.person is not None else value
    return canonical_whatsapp_id(linked) or value


def _workspace(view: LegacyView) -> list[str]:
    return [view.space] if view.platform in _WORKSPACE_PLATFORMS and view.space else []


def render(view: LegacyView) -> str | None:
    """The Hermes key of the session, or None when Hermes cannot group it this way."""
    head = [f"agent:{view.agent}", view.platform]
    if view.kind == "dm":
        if view.dm_scope not in _DM_SCOPES and view.sender is not None:
            return None
        parts = [*head, "dm", *_workspace(view), _canonical(view, view.chat)]
        return ":".join(parts if view.topic is None else [*parts, view.topic])
    if view.rule is not None or not view.native_chat:
        return None
    shape = view.grouped_by()
    per_user = shape in (("chat", "sender"), ("chat", "person"))
    if shape != ("chat",) and not per_user:
        return None
    threaded = view.topic is not None
    slot = "thread" if threaded and view.platform in _THREAD_SLOT_PLATFORMS else view.chat_type
    parts = [*head, slot, *_workspace(view), view.chat]
    if view.topic is not None:
        parts.append(view.topic)
    if view.thread_sender if threaded else per_user:
        if view.sender is None:
            return None
        parts.append(_canonical(view, view.sender))
    return ":".join(parts)


def _is_slack_thread(platform: str, part: str) -> bool:
    """A Slack thread id is a timestamp (`1700000000.000100`); a Slack user id never is."""
    return platform == "slack" and _SLACK_THREAD.match(part) is not None


@dataclass(frozen=True, slots=True)
class HermesKey(ParsedKey):
    """A Hermes key read back; `space` is the Slack workspace the key names, if any."""

    space: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**ParsedKey.as_dict(self), "space": self.space}

    def probe_event(self) -> dict[str, Any] | None:
        event = ParsedKey.probe_event(self)
        if event is not None and self.space is not None:
            event["space"] = self.space
        return event


def parse(key: str, *, group_sessions_per_user: bool = True,
          thread_sessions_per_user: bool = False) -> HermesKey | None:
    """Read a Hermes key back. A group key's part after the chat is a thread or a user: the
    two settings decide which, as they decided when Hermes built it; after a `thread` slot
    it is always the thread."""
    raw = key.strip()
    parts = raw.split(":")
    if len(parts) < 4 or parts[0] != "agent":
        return None
    agent, platform, slot, rest = parts[1], parts[2], parts[3], parts[4:]
    space = None
    if platform in _WORKSPACE_PLATFORMS and len(rest) >= 2 \
            and rest[0][:1] in _WORKSPACE_PREFIXES:
        space, rest = rest[0], rest[1:]
    if slot == "dm":
        chat = rest[0] if rest else None
        topic = rest[1] if len(rest) > 1 else None
        return HermesKey("hermes", raw, "dm", agent=agent, platform=platform, chat=chat,
                         chat_type="dm", topic=topic, sender=chat, space=space)
    if not rest:
        return None
    converted = slot if slot in ("group", "channel") else "group"
    notes: list[str] = []
    if converted != slot:
        notes.append(f"Hermes chat type {slot!r} is a group chat with a thread in convlog")
    chat, tail = rest[0], rest[1:]
    topic = sender = None
    if len(tail) >= 2:
        topic, sender = tail[0], ":".join(tail[1:])
    elif len(tail) == 1 and (slot == "thread" or _is_slack_thread(platform, tail[0])):
        topic = tail[0]
    elif len(tail) == 1 and group_sessions_per_user and not thread_sessions_per_user:
        sender = tail[0]
        notes.append("read as chat:user (group_sessions_per_user); with threads it would be "
                     "chat:thread")
    elif len(tail) == 1:
        topic = tail[0]
    scope = "per-user" if sender else "shared"
    return HermesKey("hermes", raw, scope, agent=agent, platform=platform, chat=chat,
                     chat_type=converted, topic=topic, sender=sender, notes=tuple(notes),
                     space=space)
