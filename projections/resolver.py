"""The pure resolver: an event under a scope policy gives its session key, id, legacy keys, why."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from projections.errors import PolicyError, ResolveError
from projections.policy import Policy, errors_of, semantic_diagnostics

# The agent's own output: its sender is the agent, and it belongs where the answered message is.
AGENT_AUTHORED = frozenset({"message.sent", "tool.used"})
SESSION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://convlog.invalid/session")
MEMO_LIMIT = 65_536
_NAMESPACE_BYTES = SESSION_NAMESPACE.bytes
# RFC 4122 variant and version 5 bits, as uuid.UUID(bytes=..., version=5) sets them.
_VERSION_5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_5_SET = (0x8000 << 48) | (5 << 76)

Part = tuple[str, str]


class Addressed(Protocol):
    """What the resolver reads of an event; `Event` and the store's rows both fit."""

    @property
    def type(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def space(self) -> str | None: ...
    @property
    def chat(self) -> str | None: ...
    @property
    def chat_type(self) -> str | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...


E = TypeVar("E", bound=Addressed)
# (reply_to, the reply) -> the session key of the answered message, or None when unknown.
ReplyLookup = Callable[[str, E], str | None]

_NO_LEGACY: Mapping[str, str] = MappingProxyType({})
_UNSAFE = re.compile(r"[%/=:\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ESCAPED = re.compile(r"(?:%[0-9A-F]{2})+")
_FIRST_WORD = re.compile(r"\s*(\S+)")


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where an event lands: the session's key and id, legacy equivalents, and why."""

    key: str
    session_id: uuid.UUID
    epoch: int
    legacy: Mapping[str, str] = field(hash=False)
    reasons: tuple[str, ...]
    is_thread: bool
    parent_key: str | None
    reset_trigger: bool
    via_reply: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "session_id": str(self.session_id), "epoch": self.epoch,
            "legacy": dict(self.legacy), "reasons": list(self.reasons),
            "is_thread": self.is_thread, "parent_key": self.parent_key,
            "reset_trigger": self.reset_trigger, "via_reply": self.via_reply,
        }


@dataclass(frozen=True, slots=True)
class _Placement:
    """The epoch-independent part of a resolution, shared by every event at one address."""

    key: str
    legacy: Mapping[str, str]
    reasons: tuple[str, ...]
    is_thread: bool
    parent_key: str | None


# ------------------------------------------------------------------ key format


def _escape_match(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogatepass"))


def escape_component(value: str) -> str:
    """Percent-encode '%', the separators '/', '=', ':', whitespace and control characters."""
    if _UNSAFE.search(value) is None:
        return value  # the common case, checked without building a new string
    return _UNSAFE.sub(_escape_match, value)


def unescape_component(text: str) -> str:
    return _ESCAPED.sub(
        lambda m: bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "surrogatepass"),
        text,
    )


def format_key(parts: Iterable[Part]) -> str:
    """`name=value` components joined by '/', values escaped: distinct parts, distinct keys."""
    return "/".join([name + "=" + escape_component(value) for name, value in parts])


def parse_key(key: str) -> tuple[Part, ...]:
    """The components of a canonical key (the inverse of format_key)."""
    parts = []
    for component in key.split("/"):
        name, _, value = component.partition("=")
        parts.append((name, unescape_component(value)))
    return tuple(parts)


@lru_cache(maxsize=MEMO_LIMIT)
def _session_uuid(fingerprint: str, key: str, epoch: int) -> uuid.UUID:
    # uuid5, spelled out so that keys holding lone surrogates (legal in a Python str)
    # still hash: the key format escapes them, but the id must not depend on that.
    name = f"{fingerprint}/{epoch}/{key}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    return uuid.UUID(int=int.from_bytes(digest[:16], "big") & _VERSION_5_CLEAR | _VERSION_5_SET)


def session_id_for(policy: Policy | CompiledPolicy, key: str, epoch: int = 0) -> uuid.UUID:
    """The deterministic session id of a key at an epoch under a policy's grouping."""
    fingerprint = (policy.fingerprint if isinstance(policy, CompiledPolicy)
                   else policy.grouping_fingerprint())
    return _session_uuid(fingerprint, key, epoch)


# ------------------------------------------------------------- compiled policy


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    conditions: tuple[tuple[str, frozenset[str]], ...]
    dimensions: tuple[str, ...]
    reason: str


class CompiledPolicy:
    """A policy turned into lookup tables, with memos of addresses already resolved."""

    def __init__(self, policy: Policy) -> None:
        errors = errors_of(semantic_diagnostics(policy))
        if errors:
            raise PolicyError("the policy cannot be used: " + "; ".join(map(str, errors)), errors)
        self.policy = policy
        self.fingerprint = policy.grouping_fingerprint()
        label = f"policy {policy.name!r}" if policy.name else "the default policy"
        self.baseline_reason = (f"{label} (grouping {self.fingerprint[:12]}); sessions are "
                                "always separated by agent, platform and account")
        self.dimensions: tuple[str, ...] = policy.dimensions
        self.dm_scope: str = policy.dm_scope
        self.isolate_threads = policy.threads.isolate
        self.inherit_parent = policy.threads.inherit_parent
        self.rules = tuple(_compile_rule(rule.name, rule.when.conditions(), rule.dimensions)
                           for rule in policy.rules)
        self.dimensions_reason = (("no rule matched; " if self.rules else "")
                                  + f"policy dimensions {_listing(self.dimensions)}")
        self.linked_qualified: dict[Part, str] = {}
        self.linked_bare: dict[str, str] = {}
        for person, raw_ids in policy.identity_links.items():
            for raw in raw_ids:
                self.linked_bare.setdefault(raw, person)
                platform, colon, raw_id = raw.partition(":")
                if colon:
                    self.linked_qualified.setdefault((platform, raw_id), person)
        self.groups: dict[Part, str] = {
            _platform_and_chat(ref): group
            for group, refs in policy.channel_groups.items() for ref in refs
        }
        self.zones: dict[Part, str] = {}
        self.space_scopes: dict[Part, str] = {}
        self.overrides: dict[tuple[str, str, str], str] = {}
        for space_ref, space in policy.spaces.items():
            platform, space_id = _platform_and_chat(space_ref)
            self.space_scopes[(platform, space_id)] = space.session_scope
            for chat, override in space.channels.items():
                self.overrides[(platform, space_id, chat)] = override.session_scope
            for chat in space.privacy_zones:
                self.zones[(platform, chat)] = space_ref
        self.platforms_with_spaces = frozenset(platform for platform, _ in self.space_scopes)
        self.triggers = frozenset(t.lower() for t in policy.reset.triggers)
        self.trigger_initials = frozenset(t[0] for t in self.triggers)
        self.sender_matters = "sender" in self.dimensions or any(
            "sender" in rule.dimensions or any(name == "sender" for name, _ in rule.conditions)
            for rule in self.rules)
        # Memos. Keys of different shapes live in different dicts, so they never collide.
        self._resolutions: dict[tuple[Any, ...], Resolution] = {}
        self._agent_outputs: dict[tuple[Any, ...], Resolution] = {}
        self._placements: dict[tuple[Any, ...], _Placement] = {}

    def resolve(self, event: E, *, lookup_reply: ReplyLookup[E] | None = None,
                epoch: int = 0) -> Resolution:
        """See `resolve`. Memoized: one dictionary probe for an address seen before."""
        event_type = event.type
        if event_type in AGENT_AUTHORED:
            return self._resolve_agent_output(event, lookup_reply, epoch)
        chat_type = event.chat_type
        sender: str | bool | None = event.sender
        if not (self.sender_matters or chat_type == "dm"):
            sender = sender is not None  # only whether there is one can change the answer
        trigger = event_type == "message.received" and self.is_reset_trigger(event.text)
        memo_key = (event.agent, event.platform, event.account, event.space, event.chat,
                    chat_type, event.topic, sender, epoch, trigger)
        found = self._resolutions.get(memo_key)
        if found is None:
            placement = _Placer(self, event, by_agent=False).place()
            found = _resolution(self, placement, epoch, trigger=trigger, via_reply=False)
            _remember(self._resolutions, memo_key, found)
        return found

    def is_reset_trigger(self, text: str | None) -> bool:
        """True when the text's first word is a trigger ('/reset', '/reset@bot', '/new ...')."""
        if not text or not self.triggers:
            return False
        initial = text[0]
        if initial not in self.trigger_initials and not initial.isspace():
            return False
        match = _FIRST_WORD.match(text)
        if match is None:
            return False
        word = match.group(1).lower()
        return word in self.triggers or word.partition("@")[0] in self.triggers

    def _resolve_agent_output(self, event: E, lookup_reply: ReplyLookup[E] | None,
                              epoch: int) -> Resolution:
        reply_to = event.reply_to
        if reply_to is None:
            note = f"{event.type} answers no message, so it resolves by its own address"
        elif lookup_reply is None:
            note = (f"{event.type} answers a message, but no reply lookup was given, so it "
                    "resolves by its own address")
        else:
            answered_key = lookup_reply(reply_to, event)
            if answered_key is not None:
                return self._through_reply(answered_key, epoch)
            note = (f"{event.type} answers message {reply_to}, which is not known, so it "
                    "resolves by its own address")
        memo_key = (note, event.agent, event.platform, event.account, event.space, event.chat,
                    event.chat_type, event.topic, event.sender is not None, epoch)
        found = self._agent_outputs.get(memo_key)
        if found is None:
            own = self._placement(event, by_agent=True)
            noted = _Placement(own.key, own.legacy, (note, *own.reasons), own.is_thread,
                               own.parent_key)
            found = _resolution(self, noted, epoch, trigger=False, via_reply=False)
            _remember(self._agent_outputs, memo_key, found)
        return found

    def _through_reply(self, answered_key: str, epoch: int) -> Resolution:
        """The answered message's session; its legacy keys and parent are not known here."""
        memo_key = (answered_key, epoch)
        found = self._agent_outputs.get(memo_key)
        if found is None:
            reason = (f"the agent's output answers an earlier message: it lands in that "
                      f"message's session ({answered_key}), whatever the policy says about its "
                      "own address")
            is_thread = "/topic=" in answered_key  # '/' and '=' never occur inside values
            placement = _Placement(answered_key, _NO_LEGACY, (reason,), is_thread, None)
            found = _resolution(self, placement, epoch, trigger=False, via_reply=True)
            _remember(self._agent_outputs, memo_key, found)
        return found

    def _placement(self, event: Addressed, *, by_agent: bool) -> _Placement:
        sender: str | bool | None = event.sender
        if by_agent or not (self.sender_matters or event.chat_type == "dm"):
            sender = sender is not None
        address = (by_agent, event.agent, event.platform, event.account, event.space,
                   event.chat, event.chat_type, event.topic, sender)
        found = self._placements.get(address)
        if found is None:
            found = _Placer(self, event, by_agent).place()
            _remember(self._placements, address, found)
        return found


def _compile_rule(name: str, conditions: Mapping[str, tuple[str, ...]],
                  dimensions: tuple[str, ...]) -> _Rule:
    reason = (f"rule {name!r} matched (first match wins): its traffic has its own sessions, "
              f"by {_listing(dimensions)}")
    return _Rule(name, tuple((key, frozenset(values)) for key, values in conditions.items()),
                 dimensions, reason)


def _platform_and_chat(ref: str) -> Part:
    platform, _, rest = ref.partition(":")
    return platform, rest


def _remember(memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _resolution(compiled: CompiledPolicy, placement: _Placement, epoch: int, *,
                trigger: bool, via_reply: bool) -> Resolution:
    reasons = placement.reasons
    if trigger:
        reasons = (*reasons, "the text is a reset trigger: it starts a new epoch of this session")
    return Resolution(
        key=placement.key,
        session_id=_session_uuid(compiled.fingerprint, placement.key, epoch),
        epoch=epoch, legacy=placement.legacy, reasons=reasons,
        is_thread=placement.is_thread, parent_key=placement.parent_key,
        reset_trigger=trigger, via_reply=via_reply,
    )


@lru_cache(maxsize=32)
def compile_policy(policy: Policy) -> CompiledPolicy:
    """The compiled form of a policy, built once per distinct policy."""
    return CompiledPolicy(policy)


def resolve(event: E, policy: Policy | CompiledPolicy, *,
            lookup_reply: ReplyLookup[E] | None = None, epoch: int = 0) -> Resolution:
    """The session an event lands in under a policy; pure (no database, clock or globals).

    `lookup_reply(reply_to, event)` returns the session key of the message a
    `message.sent` / `tool.used` answers, or None when unknown: the reply then
    resolves by its own address and the reasons say so. `epoch` is used as given
    (the projector knows how many resets a session has had). `summary.recorded`
    names its session instead of an address and raises ResolveError, as does an
    event without a chat.
    """
    compiled = policy if isinstance(policy, CompiledPolicy) else compile_policy(policy)
    return compiled.resolve(event, lookup_reply=lookup_reply, epoch=epoch)


# --------------------------------------------------------------------- placing


class _Placer:
    """Works out one address's session under a compiled policy, noting each reason."""

    __slots__ = ("policy", "event", "chat", "chat_type", "sender", "person", "rule",
                 "dimensions", "base", "reasons")

    def __init__(self, compiled: CompiledPolicy, event: Addressed, by_agent: bool) -> None:
        if event.type == "summary.recorded":
            raise ResolveError("summary.recorded names its session (session_id) instead of an "
                               "address; apply it to that session directly")
        if event.chat is None:
            raise ResolveError(f"{event.type} has no chat, so it has no session; "
                               "add chat and chat_type to the event")
        self.policy = compiled
        self.event = event
        self.chat: str = event.chat
        self.chat_type = event.chat_type or "channel"
        self.sender = None if by_agent else event.sender
        self.person = self._linked_person()
        self.rule: _Rule | None = None
        self.dimensions: tuple[str, ...] | None = None
        self.base: list[Part] = [("agent", event.agent), ("platform", event.platform),
                                 ("account", event.account)]
        self.reasons: list[str] = [compiled.baseline_reason]
        if by_agent and event.sender is not None:
            self.reasons.append(f"{event.type} is the agent's own output: its sender is not "
                                "used as a dimension or DM peer")

    def place(self) -> _Placement:
        zone = self.policy.zones.get((self.event.platform, self.chat))
        if zone is not None:
            parent = self._privacy_zone(zone)
        elif self.chat_type == "dm":
            parent = self._direct_message()
        else:
            parent = self._shared_chat()
        if self.event.topic is None:
            return parent
        return self._thread(self.event.topic, parent, zone is not None)

    # -- the parent (non-thread) session

    def _privacy_zone(self, space_ref: str) -> _Placement:
        self.reasons.append(
            f"chat {self.chat} is a privacy zone of space {space_ref}: it never shares a "
            "session with another chat (this wins over groups, guild scope and rules)")
        dimensions = self._dimensions() if self.chat_type != "dm" else ()
        parts = [*self.base, ("chat", self.chat)]
        sender_part = self._sender_part() if "sender" in dimensions else None
        if sender_part is not None:
            parts.append(sender_part)
        return self._done(parts, self._chat_legacy(sender_part))

    def _direct_message(self) -> _Placement:
        scope = self.policy.dm_scope
        agent, platform, account = (value for _, value in self.base)
        peer = self.person or self.sender
        if scope == "main":
            self.reasons.append(f"dm_scope main: every DM of agent {agent} shares one session, "
                                "across platforms and accounts")
            return self._done([("agent", agent), ("dm", "main")],
                              {"openclaw": f"agent:{agent}:main"})
        if peer is None:
            self.reasons.append(f"dm_scope {scope}, but the event names no sender: the DM "
                                f"session is identified by its chat {self.chat}")
            return self._done([*self.base, ("dm-chat", self.chat)],
                              {"hermes": f"agent:{agent}:{platform}:dm:{self.chat}"})
        if self.person is not None:
            self._note_link()
        peer_part = ("dm-person", peer) if self.person else ("dm-peer", peer)
        if scope == "per-peer":
            return self._per_peer_dm(agent, platform, peer_part)
        legacy = {
            "hermes": f"agent:{agent}:{platform}:dm:{self.chat}",
            "picoclaw": f"agent:{agent}:{platform}:direct:{self.sender}",
        }
        if scope == "per-account-channel-peer":
            self.reasons.append("dm_scope per-account-channel-peer: one DM session per person, "
                                "platform and account")
            legacy["openclaw"] = f"agent:{agent}:{platform}:{account}:direct:{peer}"
        else:
            self.reasons.append("dm_scope per-channel-peer (the default): one DM session per "
                                "person and platform (accounts stay separate, as always)")
            legacy["openclaw"] = f"agent:{agent}:{platform}:direct:{peer}"
        return self._done([*self.base, peer_part], legacy)

    def _per_peer_dm(self, agent: str, platform: str, peer_part: Part) -> _Placement:
        legacy = {"openclaw": f"agent:{agent}:direct:{peer_part[1]}"}
        if self.person is not None:
            self.reasons.append(f"dm_scope per-peer: one DM session per person across "
                                f"platforms; {self.person} is a linked identity")
            return self._done([("agent", agent), peer_part], legacy)
        self.reasons.append(f"dm_scope per-peer: one DM session per person across platforms; "
                            f"sender {self.sender} is in no identity link, so the session "
                            f"stays on {platform}")
        return self._done([("agent", agent), ("platform", platform), peer_part], legacy)

    def _shared_chat(self) -> _Placement:
        dimensions = self._dimensions()
        group = self.policy.groups.get((self.event.platform, self.chat))
        if group is not None:
            self._note_group(f"chat {self.chat}", group, dimensions)
        return self._shared_session(dimensions, group)

    def _shared_session(self, dimensions: tuple[str, ...], group: str | None) -> _Placement:
        """A group or channel chat's session: dimensions, with chat read as group or guild."""
        chat_part = self._chat_part(group, dimensions)
        prefix = [*self.base, *self._rule_parts()]
        parts = list(prefix)
        sender_part: Part | None = None
        for dimension in dimensions:
            part = self._dimension_part(dimension, group, chat_part)
            if dimension == "sender":
                sender_part = part
            if part is not None and part not in parts:
                parts.append(part)
        legacy = self._shared_legacy(parts[len(prefix):], chat_part, sender_part)
        return self._done(parts, legacy)

    def _dimension_part(self, dimension: str, group: str | None, chat_part: Part) -> Part | None:
        if dimension == "chat":
            return chat_part
        if dimension == "space" and group is not None:
            return ("group", group)
        if dimension == "space" and self.event.space is not None:
            return ("space", self.event.space)
        if dimension == "sender" and self.sender is not None:
            return self._sender_part()
        if dimension == "topic" and self.event.topic is not None:
            return None  # the thread step gives topics their own session
        self.reasons.append(f"dimension {dimension} has no effect: the event has no {dimension}")
        return None

    def _chat_part(self, group: str | None, dimensions: tuple[str, ...]) -> Part:
        """What the `chat` dimension means here: the chat, its group, or its guild."""
        if group is not None:
            return ("group", group)
        platform, space = self.event.platform, self.event.space
        if space is None and platform in self.policy.platforms_with_spaces:
            self.reasons.append(f"the event names no space, so the settings of {platform} "
                                "spaces do not apply")
        if "chat" not in dimensions or space is None:
            return ("chat", self.chat)
        scope = self.policy.space_scopes.get((platform, space))
        override = self.policy.overrides.get((platform, space, self.chat))
        space_ref = f"{platform}:{space}"
        if override is not None and override != scope:
            verb = "keeps its own session" if override == "channel" else "shares the space's"
            self.reasons.append(f"chat {self.chat} overrides space {space_ref} to "
                                f"{override} scope: it {verb}")
        elif scope == "guild":
            self.reasons.append(f"space {space_ref} is guild-scoped: chat {self.chat} shares "
                                "the space's session")
        if (override or scope) == "guild":
            return ("space", space)
        return ("chat", self.chat)

    def _note_group(self, member: str, group: str, dimensions: tuple[str, ...]) -> None:
        if "chat" not in dimensions and "space" not in dimensions:
            self.reasons.append(f"{member} is in channel group {group!r}, but the dimensions "
                                "include neither chat nor space, so the group changes nothing")
            return
        self.reasons.append(f"{member} is in channel group {group!r}: every chat of the group "
                            "shares one session (a group wins over the space's scope)")

    def _dimensions(self) -> tuple[str, ...]:
        """The first matching rule's dimensions, else the policy's; noted once."""
        if self.dimensions is not None:
            return self.dimensions
        self.rule = next((rule for rule in self.policy.rules if self._matches(rule)), None)
        if self.rule is not None:
            self.dimensions = self.rule.dimensions
            self.reasons.append(self.rule.reason)
        else:
            self.dimensions = self.policy.dimensions
            self.reasons.append(self.policy.dimensions_reason)
        return self.dimensions

    def _rule_parts(self) -> list[Part]:
        return [("rule", self.rule.name)] if self.rule is not None else []

    def _matches(self, rule: _Rule) -> bool:
        event = self.event
        for name, accepted in rule.conditions:
            if name == "chat":
                hit = self.chat in accepted or f"{self.chat_type}:{self.chat}" in accepted
            elif name == "sender":
                hit = self.sender in accepted or self.person in accepted
            else:
                hit = getattr(event, name) in accepted
            if not hit:
                return False
        return True

    def _sender_part(self) -> Part | None:
        if self.person is not None:
            self._note_link()
            return ("person", self.person)
        if self.sender is not None:
            return ("sender", self.sender)
        return None

    def _linked_person(self) -> str | None:
        if self.sender is None:
            return None
        policy = self.policy
        person = policy.linked_qualified.get((self.event.platform, self.sender))
        return person if person is not None else policy.linked_bare.get(self.sender)

    def _note_link(self) -> None:
        note = f"sender {self.sender} is linked to identity {self.person!r} (identity_links)"
        if note not in self.reasons:
            self.reasons.append(note)

    # -- threads

    def _thread(self, topic: str, parent: _Placement, in_zone: bool) -> _Placement:
        policy = self.policy
        is_dm = self.chat_type == "dm"
        group = None if in_zone or is_dm else policy.groups.get((self.event.platform, topic))
        dimensions = () if is_dm else self._dimensions()
        sender_part = self._sender_part() if "sender" in dimensions else None
        if group is not None:
            self._note_group(f"thread {topic}", group, dimensions)
            return self._shared_session(dimensions, group)
        if not policy.isolate_threads and "topic" not in dimensions:
            self.reasons.append(f"threads.isolate is false: thread {topic} folds into its "
                                "chat's session")
            return _Placement(parent.key, parent.legacy, tuple(self.reasons), False, None)
        why = "threads.isolate" if policy.isolate_threads else "the topic dimension"
        self.reasons.append(f"thread {topic} of chat {self.chat} gets its own session ({why}); "
                            f"its parent is {parent.key}")
        if policy.inherit_parent:
            self.reasons.append("threads.inherit_parent: it starts with the parent's context "
                                "up to the thread.created point")
        rule_parts = [] if in_zone else self._rule_parts()
        parts = [*self.base, *rule_parts, ("chat", self.chat), ("topic", topic)]
        if sender_part is not None:
            parts.append(sender_part)
        agent, platform = self.event.agent, self.event.platform
        legacy = {} if sender_part or is_dm else {
            "openclaw": f"agent:{agent}:{platform}:thread:{topic}"}
        return _Placement(format_key(parts), _frozen(legacy), tuple(self.reasons), True,
                          parent.key)

    # -- legacy keys and the result

    def _chat_legacy(self, sender_part: Part | None) -> dict[str, str]:
        agent, platform = self.event.agent, self.event.platform
        chat_key = f"agent:{agent}:{platform}:{self.chat_type}:{self.chat}"
        if sender_part is None:
            return {"openclaw": chat_key, "hermes": chat_key, "picoclaw": chat_key}
        return {"hermes": f"{chat_key}:{self.sender}"}

    def _shared_legacy(self, parts: list[Part], chat_part: Part,
                       sender_part: Part | None) -> dict[str, str]:
        agent, platform = self.event.agent, self.event.platform
        kind, value = chat_part
        if parts == [("chat", self.chat)] or parts == [("chat", self.chat), sender_part]:
            return self._chat_legacy(sender_part)
        if parts == [("group", value)] and kind == "group":
            return {"openclaw": f"agent:{agent}:{platform}:channel:{value}"}
        if parts == [("space", value)] and kind == "space":
            return {"openclaw": f"agent:{agent}:{platform}:guild:{value}"}
        return {}

    def _done(self, parts: list[Part], legacy: dict[str, str]) -> _Placement:
        return _Placement(format_key(parts), _frozen(legacy), tuple(self.reasons), False, None)


def _frozen(legacy: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(legacy) if legacy else _NO_LEGACY


def _listing(dimensions: tuple[str, ...]) -> str:
    return "[" + ", ".join(dimensions) + "]" if dimensions else "[] (one session per account)"
