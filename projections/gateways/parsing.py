"""Which gateway a key is from, and what it names: every reading that fits."""

from __future__ import annotations

from projections.gateways.hermes import keys as hermes
from projections.gateways.openclaw import keys as openclaw
from projections.gateways.parsed import ParsedKey
from projections.gateways.picoclaw import keys as picoclaw

_HERMES_CHAT_TYPES = ("dm", "group", "channel", "thread", "forum")


def parse_legacy_key(key: str, gateway: str | None = None, *, main_key: str = "main",
                     group_sessions_per_user: bool = True,
                     thread_sessions_per_user: bool = False) -> list[ParsedKey]:
    """Every reading of `key` (one per gateway whose format it fits), most likely first."""
    readings: list[ParsedKey] = []
    if gateway in (None, "picoclaw"):
        opaque = picoclaw.parse(key)
        if opaque is not None:
            return [opaque]
    if gateway in (None, "openclaw", "picoclaw"):
        found = openclaw.parse(key, main_key=main_key)
        if found is not None:
            readings.append(found if gateway != "picoclaw" else _as_alias(found))
        per_room = openclaw.per_room_reading(found) if found and gateway != "picoclaw" else None
        if per_room is not None:
            readings.append(per_room)
    if gateway in (None, "hermes") and _hermes_shaped(key):
        found = hermes.parse(key, group_sessions_per_user=group_sessions_per_user,
                             thread_sessions_per_user=thread_sessions_per_user)
        if found is not None:
            readings.append(found)
    readings.sort(key=_likelihood)
    return readings


def _hermes_shaped(key: str) -> bool:
    parts = key.strip().split(":")
    return len(parts) >= 5 and parts[0] == "agent" and parts[3] in _HERMES_CHAT_TYPES


def _likelihood(parsed: ParsedKey) -> int:
    """Chat readings before non-chat ones; OpenClaw's `direct` and Hermes's `dm` are sure."""
    if not parsed.chat_session:
        return 3
    if parsed.gateway == "hermes" and parsed.chat_type == "dm":
        return 0
    if parsed.gateway == "openclaw" and parsed.scope == "per-room":
        return 2  # only a policy keying Matrix DMs per chat renders it back
    if parsed.gateway == "openclaw" and parsed.scope != "chat":
        return 0
    return 1


def _as_alias(parsed: ParsedKey) -> ParsedKey:
    """PicoClaw's readable aliases are OpenClaw-shaped: the same reading, its own name."""
    return ParsedKey("picoclaw", parsed.key, parsed.scope, agent=parsed.agent,
                     platform=parsed.platform, account=parsed.account, chat=parsed.chat,
                     chat_type=parsed.chat_type, topic=parsed.topic, sender=parsed.sender,
                     chat_session=parsed.chat_session,
                     notes=(*parsed.notes, "a PicoClaw legacy alias"))
