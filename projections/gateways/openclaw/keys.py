"""OpenClaw's session keys: `agent:<id>:<mainKey>`, direct, group/channel, thread and topic forms.

Formats as OpenClaw's `src/routing/session-key.ts` builds them and its tests pin them:
the whole key is lower case; DMs follow dmScope (main, per-peer, per-channel-peer,
per-account-channel-peer); a Telegram forum topic appends `:topic:<id>`, a Telegram
DM topic `:thread:<chat>:<topic>`, a Discord thread is a channel of its own, and every
other thread appends `:thread:<id>`.

Quirks kept (each with a case in tests/unit/test_legacy_keys_openclaw_quirks.py): an
outbound route (a view with no sender: the gateway keys it by its target) puts a Telegram
DM topic as `:thread:<topic>` and a Discord thread under its parent channel, with no
thread suffix; Matrix and Mattermost thread ids keep their case while the rest of the key
is lower case; an empty platform or chat id is written `unknown`, never the main key; a
Matrix DM under dm_scope per-chat (Matrix's per-room DM scope) is keyed by its room as a
channel, and such a key reads back both as that room's DM and as a room of many.
"""

from __future__ import annotations

from projections.gateways.parsed import ParsedKey
from projections.gateways.view import LegacyView, normalize_account_id, normalize_agent_id

_DIRECT = ("direct", "dm")  # 'dm' is the spelling before OpenClaw renamed it
_SHARED = ("group", "channel")
_NOT_CHATS = ("subagent", "cron", "hook", "acp", "node", "heartbeat")
# Their adapters append thread ids as the platform spells them (ids are case-sensitive)
_CASED_THREADS = ("matrix", "mattermost")
_UNKNOWN = "unknown"  # OpenClaw's spelling of an empty channel or peer id


def render(view: LegacyView) -> str | None:
    """The OpenClaw key of the session, or None when OpenClaw cannot group it this way."""
    key = _direct(view) if view.kind == "dm" else _shared(view)
    if key is None:
        return None
    suffix = f":thread:{view.topic}"
    if view.platform.lower() in _CASED_THREADS and view.topic and key.endswith(suffix):
        return key[:-len(view.topic)].lower() + view.topic.strip()
    return key.lower()


def _outbound(view: LegacyView) -> bool:
    """A route the gateway built from a send target: no sender, keyed by the chat."""
    return view.sender is None


def _platform(view: LegacyView) -> str:
    return view.platform.strip() or _UNKNOWN


def _direct(view: LegacyView) -> str | None:
    agent, platform = normalize_agent_id(view.agent), _platform(view)
    if view.dm_scope == "per-chat":
        return _per_room(view, agent, platform)
    if view.dm_scope == "main":
        base = f"agent:{agent}:{view.main_key}"
    elif view.peer is None:
        return None
    elif view.dm_scope == "per-peer":
        base = f"agent:{agent}:direct:{view.peer}"
    elif view.dm_scope == "per-account-channel-peer":
        account = normalize_account_id(view.account)
        base = f"agent:{agent}:{platform}:{account}:direct:{view.peer}"
    else:
        base = f"agent:{agent}:{platform}:direct:{view.peer}"
    if view.topic is None:
        return base
    if view.platform == "telegram" and (view.dm_scope == "main" or not _outbound(view)):
        # inbound DM topics carry their chat (bot-message-context); outbound routes do not
        # (src/infra/outbound/outbound-session.test.ts "Telegram DM with topic")
        return f"{base}:thread:{view.chat}:{view.topic}"
    return f"{base}:thread:{view.topic}"


def _per_room(view: LegacyView, agent: str, platform: str) -> str | None:
    """Matrix's `dm.sessionScope: per-room` keys a DM by its room, as a channel peer
    (extensions/matrix handler.test.ts); no other platform keys a DM by its chat."""
    if view.platform.lower() != "matrix":
        return None
    base = f"agent:{agent}:{platform}:channel:{view.chat.strip() or _UNKNOWN}"
    return base if view.topic is None else f"{base}:thread:{view.topic}"


def _shared(view: LegacyView) -> str | None:
    if view.rule is not None or view.thread_sender:
        return None
    agent, platform = normalize_agent_id(view.agent), _platform(view)
    shape = view.grouped_by()
    if shape == ("group",):
        # channel_groups (OpenClaw PR #20078): the group name stands in for the channel
        base = f"agent:{agent}:{platform}:channel:{view.grouping[0][1]}"
    elif shape == ("space",) and not view.native_chat:
        base = f"agent:{agent}:{platform}:guild:{view.grouping[0][1]}"
    elif shape == ("chat",) and view.native_chat:
        kind = view.chat_type if view.chat_type in _SHARED else "channel"
        base = f"agent:{agent}:{platform}:{kind}:{view.chat.strip() or _UNKNOWN}"
    else:
        return None
    if view.topic is None:
        return base
    if shape != ("chat",):
        return f"agent:{agent}:{platform}:thread:{view.topic}"
    if view.platform == "discord":
        # inbound, a thread is a channel of its own; an outbound route to the channel id
        # names no thread (outbound-session.test.ts "... without thread suffixes")
        return base if _outbound(view) else f"agent:{agent}:discord:channel:{view.topic}"
    if view.platform == "telegram":
        return f"{base}:topic:{view.topic}"
    return f"{base}:thread:{view.topic}"


def parse(key: str, *, main_key: str = "main") -> ParsedKey | None:
    """Read an OpenClaw key back; None when it is not of OpenClaw's `agent:` shape."""
    raw = key.strip()
    parts = raw.split(":")
    if len(parts) < 3 or parts[0].lower() != "agent" or not parts[1]:
        return None
    agent, rest = parts[1].lower(), parts[2:]
    if rest[0].lower() in _NOT_CHATS:
        return ParsedKey("openclaw", raw, rest[0].lower(), agent=agent, chat_session=False,
                         notes=(f"a {rest[0].lower()} session: it names no chat",))
    rest, topic, thread_chat = _split_thread(rest)
    lowered = [part.lower() for part in rest]
    # only Telegram writes a DM topic as `:thread:<chat>:<topic>` (bot-message-context)
    dm_topic_platform = "telegram" if thread_chat is not None else None
    if lowered == [main_key.lower()]:
        return ParsedKey("openclaw", raw, "main", agent=agent, chat_type="dm", topic=topic,
                         chat=thread_chat, platform=dm_topic_platform,
                         notes=("dmScope main: every DM of the agent, on every platform",))
    if len(rest) >= 2 and lowered[0] in _DIRECT:
        peer = ":".join(rest[1:])
        return ParsedKey("openclaw", raw, "per-peer", agent=agent, chat_type="dm",
                         platform=dm_topic_platform, sender=peer,
                         chat=thread_chat or peer, topic=topic,
                         notes=("dmScope per-peer: the platform is not part of the key",))
    if len(rest) >= 3 and lowered[1] in _DIRECT:
        peer = ":".join(rest[2:])
        return ParsedKey("openclaw", raw, "per-channel-peer", agent=agent, platform=lowered[0],
                         chat_type="dm", sender=peer, chat=thread_chat or peer, topic=topic,
                         notes=_dm_topic_notes(lowered[0], topic, thread_chat))
    if len(rest) >= 4 and lowered[2] in _DIRECT:
        peer = ":".join(rest[3:])
        return ParsedKey("openclaw", raw, "per-account-channel-peer", agent=agent,
                         platform=lowered[0], account=lowered[1], chat_type="dm",
                         sender=peer, chat=thread_chat or peer, topic=topic)
    if len(rest) >= 3 and lowered[1] in _SHARED:
        notes = ["OpenClaw keys are lower case: a chat id with capitals (Slack's C123) is "
                 "written c123" + (f"; {lowered[0]} thread ids keep their case"
                                   if lowered[0] in _CASED_THREADS else "")]
        if lowered[0] == "matrix" and lowered[1] == "channel":
            notes.append("a Matrix DM under dm.sessionScope per-room is keyed by its room "
                         "like this: the sessions.json entry's chatType tells them apart")
        if lowered[2:] == [_UNKNOWN]:
            notes.append("'unknown' is how OpenClaw writes an empty chat id")
        return ParsedKey("openclaw", raw, "chat", agent=agent, platform=lowered[0],
                         chat=":".join(rest[2:]), chat_type=lowered[1], topic=topic,
                         notes=tuple(notes))
    if len(rest) >= 3 and lowered[1] == "guild":
        return ParsedKey("openclaw", raw, "guild", agent=agent, platform=lowered[0],
                         chat_type="channel", topic=topic, chat_session=False,
                         notes=(f"every chat of guild {':'.join(rest[2:])} (a guild-wide "
                                "session names no single chat)",))
    return ParsedKey("openclaw", raw, "unknown", agent=agent, chat_session=False,
                     notes=("an agent key of no chat form OpenClaw builds for channels",))


def per_room_reading(parsed: ParsedKey) -> ParsedKey | None:
    """A Matrix room key read as the key of that room's DM under Matrix's per-room DM
    scope (convlog's dm_scope per-chat), which spells it like a room of many."""
    if (parsed.gateway, parsed.platform, parsed.scope, parsed.chat_type) != (
            "openclaw", "matrix", "chat", "channel"):
        return None
    return ParsedKey("openclaw", parsed.key, "per-room", agent=parsed.agent,
                     platform="matrix", chat=parsed.chat, chat_type="dm", topic=parsed.topic,
                     notes=("a Matrix DM under dm.sessionScope per-room (convlog dm_scope "
                            "per-chat): one session per DM room, whoever writes in it",))


def _dm_topic_notes(platform: str, topic: str | None,
                    thread_chat: str | None) -> tuple[str, ...]:
    if platform != "telegram" or topic is None or thread_chat is not None:
        return ()
    return ("a Telegram DM topic as an outbound route keys it (:thread:<topic>); inbound, "
            "the same topic is keyed :thread:<chat>:<topic>",)


def _split_thread(rest: list[str]) -> tuple[list[str], str | None, str | None]:
    """Strip `:thread:<id>`, `:topic:<id>` or Telegram's DM `:thread:<chat>:<id>`."""
    lowered = [part.lower() for part in rest]
    if lowered[0] in _CASED_THREADS and "thread" in lowered[3:-1]:
        # Matrix ids hold colons (`$AbC123:example.org`): the thread is all after the marker
        marker = lowered.index("thread", 3)
        return rest[:marker], ":".join(rest[marker + 1:]), None
    if len(rest) >= 3 and lowered[-2] in ("thread", "topic"):
        return rest[:-2], rest[-1], None
    if len(rest) >= 4 and lowered[-3] == "thread":
        return rest[:-3], rest[-1], rest[-2]
    return rest, None, None
