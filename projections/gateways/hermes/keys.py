"""Hermes agent's session keys: `agent:main:<platform>:<chat_type>:<chat_id>[:<thread>][:<user>]`.

As Hermes's `gateway/session.py` builds them and `tests/gateway/test_session.py` pins
them: DMs are keyed by chat id (then thread); group chats add the sender when
`group_sessions_per_user` (default on) and the chat is not a thread; threads add it only
when `thread_sessions_per_user`. WhatsApp ids are canonical: no `@server`, no `:device`,
no leading `+`. No part is lower-cased.
"""

from __future__ import annotations

from projections.gateways.parsed import ParsedKey
from projections.gateways.view import LegacyView

_DM_SCOPES = ("per-channel-peer", "per-account-channel-peer")


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


def render(view: LegacyView) -> str | None:
    """The Hermes key of the session, or None when Hermes cannot group it this way."""
    namespace = f"agent:{view.agent}"
    if view.kind == "dm":
        if view.dm_scope not in _DM_SCOPES and view.sender is not None:
            return None
        key = f"{namespace}:{view.platform}:dm:{_canonical(view, view.chat)}"
        return key if view.topic is None else f"{key}:{view.topic}"
    if view.rule is not None or not view.native_chat:
        return None
    shape = view.grouped_by()
    per_user = shape in (("chat", "sender"), ("chat", "person"))
    if shape != ("chat",) and not per_user:
        return None
    key = f"{namespace}:{view.platform}:{view.chat_type}:{view.chat}"
    if view.topic is not None:
        key = f"{key}:{view.topic}"
        with_user = view.thread_sender
    else:
        with_user = per_user
    if with_user:
        if view.sender is None:
            return None
        key = f"{key}:{_canonical(view, view.sender)}"
    return key


def parse(key: str, *, group_sessions_per_user: bool = True,
          thread_sessions_per_user: bool = False) -> ParsedKey | None:
    """Read a Hermes key back. A group key's 6th part is a thread or a user: the two
    settings decide which, as they decided when Hermes built it."""
    raw = key.strip()
    parts = raw.split(":")
    if len(parts) < 4 or parts[0] != "agent":
        return None
    agent, platform, chat_type, rest = parts[1], parts[2], parts[3], parts[4:]
    if chat_type == "dm":
        chat = rest[0] if rest else None
        topic = rest[1] if len(rest) > 1 else None
        return ParsedKey("hermes", raw, "dm", agent=agent, platform=platform, chat=chat,
                         chat_type="dm", topic=topic, sender=chat)
    if not rest:
        return None
    converted = chat_type if chat_type in ("group", "channel") else "group"
    notes: list[str] = []
    if converted != chat_type:
        notes.append(f"Hermes chat type {chat_type!r} is a group chat with a thread in convlog")
    chat, tail = rest[0], rest[1:]
    topic = sender = None
    if len(tail) >= 2:
        topic, sender = tail[0], ":".join(tail[1:])
    elif len(tail) == 1 and group_sessions_per_user and not thread_sessions_per_user:
        sender = tail[0]
        notes.append("read as chat:user (group_sessions_per_user); with threads it would be "
                     "chat:thread")
    elif len(tail) == 1:
        topic = tail[0]
    scope = "per-user" if sender else "shared"
    return ParsedKey("hermes", raw, scope, agent=agent, platform=platform, chat=chat,
                     chat_type=converted, topic=topic, sender=sender, notes=tuple(notes))
