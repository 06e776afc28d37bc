"""The placer: where one event address lands (DMs, shared chats, threads, rules, legacy keys)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

from projections.errors import ResolveError
from projections.gateways.render import legacy_keys
from projections.gateways.view import NO_SETTINGS, Kind, LegacyView
from projections.resolver.canonical import Part, format_key

NO_LEGACY: Mapping[str, str] = MappingProxyType({})
NO_SETTINGS_PARTS: Mapping[Part, str] = MappingProxyType({})


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


@dataclass(frozen=True, slots=True)
class Rule:
    """A policy rule ready to match: each condition's accepted values as a set."""

    name: str
    conditions: tuple[tuple[str, frozenset[str]], ...]
    dimensions: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class PolicyTables:
    """A policy's lookup tables, all the placer reads; built once by the compiled policy."""

    baseline_reason: str
    dimensions: tuple[str, ...]
    dimensions_reason: str
    dm_scope: str
    isolate_threads: bool
    inherit_parent: bool
    rules: tuple[Rule, ...]
    linked_qualified: Mapping[Part, str]  # (platform, raw id) -> person
    linked_bare: Mapping[str, str]  # raw id as written in identity_links -> person
    groups: Mapping[Part, str]  # (platform, chat) -> channel group
    zones: Mapping[Part, str]  # (platform, chat) -> the space it is a privacy zone of
    space_scopes: Mapping[Part, str]  # (platform, space) -> session_scope
    overrides: Mapping[tuple[str, str, str], str]  # (platform, space, chat) -> session_scope
    platforms_with_spaces: frozenset[str]
    account_dm_scopes: Mapping[Part, str] = field(  # (platform, account or '*') -> scope
        default_factory=lambda: NO_SETTINGS_PARTS)
    thread_per_sender: bool | None = None
    main_key: str = "main"
    space_types: Mapping[str, str] = field(default_factory=lambda: NO_SETTINGS)


@dataclass(frozen=True, slots=True)
class Placement:
    """The epoch-independent part of a resolution, shared by every event at one address."""

    key: str
    legacy: Mapping[str, str]
    reasons: tuple[str, ...]
    is_thread: bool
    parent_key: str | None


class Placer:
    """Works out one address's session under a compiled policy, noting each reason."""

    __slots__ = ("tables", "event", "chat", "chat_type", "sender", "person", "rule",
                 "dimensions", "base", "reasons", "view")

    def __init__(self, tables: PolicyTables, event: Addressed, by_agent: bool) -> None:
        if event.type == "summary.recorded":
            raise ResolveError("summary.recorded names its session (session_id) instead of an "
                               "address; apply it to that session directly")
        if event.chat is None:
            raise ResolveError(f"{event.type} has no chat, so it has no session; "
                               "add chat and chat_type to the event")
        self.tables = tables
        self.event = event
        self.chat: str = event.chat
        self.chat_type = event.chat_type or "channel"
        self.sender = None if by_agent else event.sender
        self.person = self._linked_person()
        self.rule: Rule | None = None
        self.dimensions: tuple[str, ...] | None = None
        self.base: list[Part] = [("agent", event.agent), ("platform", event.platform),
                                 ("account", event.account)]
        self.reasons: list[str] = [tables.baseline_reason]
        self.view: LegacyView | None = None  # the last session's view, a thread's parent
        if by_agent and event.sender is not None:
            self.reasons.append(f"{event.type} is the agent's own output: its sender is not "
                                "used as a dimension or DM peer")

    def place(self) -> Placement:
        zone = self.tables.zones.get((self.event.platform, self.chat))
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

    def _privacy_zone(self, space_ref: str) -> Placement:
        self.reasons.append(
            f"chat {self.chat} is a privacy zone of space {space_ref}: it never shares a "
            "session with another chat (this wins over groups, guild scope and rules)")
        dimensions = self._dimensions() if self.chat_type != "dm" else ()
        parts = [*self.base, ("chat", self.chat)]
        sender_part = self._sender_part() if "sender" in dimensions else None
        if sender_part is not None:
            parts.append(sender_part)
        grouping = ((("chat", self.chat),) if sender_part is None
                    else (("chat", self.chat), sender_part))
        view = self._view("chat", dimensions=dimensions, grouping=grouping, ruled=False)
        return self._done(parts, view)

    def _direct_message(self) -> Placement:
        scope = self._dm_scope()
        agent, platform, _ = (value for _, value in self.base)
        peer = self.person or self.sender
        # PicoClaw scopes DMs by the policy's dimensions too (rules aside: DMs follow dm_scope)
        view = self._view("dm", dm_scope=scope, dimensions=self.tables.dimensions)
        if scope == "main":
            self.reasons.append(f"dm_scope main: every DM of agent {agent} shares one session, "
                                "across platforms and accounts")
            return self._done([("agent", agent), ("dm", "main")], view)
        if scope == "per-chat":
            self.reasons.append(f"dm_scope per-chat: one DM session per chat ({self.chat}), "
                                "whoever writes in it")
            return self._done([*self.base, ("dm-chat", self.chat)], view)
        if peer is None:
            self.reasons.append(f"dm_scope {scope}, but the event names no sender: the DM "
                                f"session is identified by its chat {self.chat}")
            # The gateways key an outbound DM by its target, the chat: so do its legacy keys.
            view = replace(view, person=self._link_of(self.chat) or self.chat)
            return self._done([*self.base, ("dm-chat", self.chat)], view)
        if self.person is not None:
            self._note_link()
        peer_part = ("dm-person", peer) if self.person else ("dm-peer", peer)
        if scope == "per-peer":
            return self._per_peer_dm(agent, platform, peer_part, view)
        if scope == "per-account-channel-peer":
            self.reasons.append("dm_scope per-account-channel-peer: one DM session per person, "
                                "platform and account")
        else:
            self.reasons.append("dm_scope per-channel-peer (the default): one DM session per "
                                "person and platform (accounts stay separate, as always)")
        return self._done([*self.base, peer_part], view)

    def _dm_scope(self) -> str:
        """The policy's dm_scope, or the one account_dm_scopes sets for this account."""
        platform, account = self.event.platform, self.event.account
        overrides = self.tables.account_dm_scopes
        scope = overrides.get((platform, account))
        if scope is None and account != "default":
            scope = overrides.get((platform, "*"))
        if scope is None:
            return self.tables.dm_scope
        self.reasons.append(f"account_dm_scopes: DMs to account {account} on {platform} use "
                            f"dm_scope {scope}")
        return scope

    def _per_peer_dm(self, agent: str, platform: str, peer_part: Part,
                     view: LegacyView) -> Placement:
        if self.person is not None:
            self.reasons.append(f"dm_scope per-peer: one DM session per person across "
                                f"platforms; {self.person} is a linked identity")
            return self._done([("agent", agent), peer_part], view)
        self.reasons.append(f"dm_scope per-peer: one DM session per person across platforms; "
                            f"sender {self.sender} is in no identity link, so the session "
                            f"stays on {platform}")
        return self._done([("agent", agent), ("platform", platform), peer_part], view)

    def _shared_chat(self) -> Placement:
        dimensions = self._dimensions()
        group = self.tables.groups.get((self.event.platform, self.chat))
        if group is not None:
            self._note_group(f"chat {self.chat}", group, dimensions)
        return self._shared_session(dimensions, group)

    def _shared_session(self, dimensions: tuple[str, ...], group: str | None) -> Placement:
        """A group or channel chat's session: dimensions, with chat read as group or guild."""
        chat_part = self._chat_part(group, dimensions)
        prefix = [*self.base, *self._rule_parts()]
        parts = list(prefix)
        for dimension in dimensions:
            part = self._dimension_part(dimension, group, chat_part)
            if part is not None and part not in parts:
                parts.append(part)
        view = self._view("chat", dimensions=dimensions, grouping=tuple(parts[len(prefix):]),
                          native_chat=chat_part == ("chat", self.chat))
        return self._done(parts, view)

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
        if space is None and platform in self.tables.platforms_with_spaces:
            self.reasons.append(f"the event names no space, so the settings of {platform} "
                                "spaces do not apply")
        if "chat" not in dimensions or space is None:
            return ("chat", self.chat)
        scope = self.tables.space_scopes.get((platform, space))
        override = self.tables.overrides.get((platform, space, self.chat))
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
        self.rule = next((rule for rule in self.tables.rules if self._matches(rule)), None)
        if self.rule is not None:
            self.dimensions = self.rule.dimensions
            self.reasons.append(self.rule.reason)
        else:
            self.dimensions = self.tables.dimensions
            self.reasons.append(self.tables.dimensions_reason)
        return self.dimensions

    def _rule_parts(self) -> list[Part]:
        return [("rule", self.rule.name)] if self.rule is not None else []

    def _matches(self, rule: Rule) -> bool:
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
        return None if self.sender is None else self._link_of(self.sender)

    def _link_of(self, raw: str) -> str | None:
        tables = self.tables
        person = tables.linked_qualified.get((self.event.platform, raw))
        return person if person is not None else tables.linked_bare.get(raw)

    def _note_link(self) -> None:
        note = f"sender {self.sender} is linked to identity {self.person!r} (identity_links)"
        if note not in self.reasons:
            self.reasons.append(note)

    # -- threads

    def _thread(self, topic: str, parent: Placement, in_zone: bool) -> Placement:
        tables = self.tables
        is_dm = self.chat_type == "dm"
        group = None if in_zone or is_dm else tables.groups.get((self.event.platform, topic))
        dimensions = () if is_dm else self._dimensions()
        per_sender = tables.thread_per_sender
        split = "sender" in dimensions if per_sender is None else per_sender
        sender_part = self._sender_part() if split and not is_dm else None
        if per_sender is not None and not is_dm and per_sender != ("sender" in dimensions):
            self.reasons.append(f"threads.per_sender is {str(per_sender).lower()}: thread "
                                f"{topic} is {'split' if per_sender else 'shared'} by sender")
        if group is not None:
            self._note_group(f"thread {topic}", group, dimensions)
            return self._shared_session(dimensions, group)
        if not tables.isolate_threads and "topic" not in dimensions:
            self.reasons.append(f"threads.isolate is false: thread {topic} folds into its "
                                "chat's session")
            return Placement(parent.key, parent.legacy, tuple(self.reasons), False, None)
        why = "threads.isolate" if tables.isolate_threads else "the topic dimension"
        self.reasons.append(f"thread {topic} of chat {self.chat} gets its own session ({why}); "
                            f"its parent is {parent.key}")
        if tables.inherit_parent:
            self.reasons.append("threads.inherit_parent: it starts with the parent's context "
                                "up to the thread.created point")
        rule_parts = [] if in_zone else self._rule_parts()
        parts = [*self.base, *rule_parts, ("chat", self.chat), ("topic", topic)]
        if sender_part is not None:
            parts.append(sender_part)
        legacy: Mapping[str, str] = NO_LEGACY
        if self.view is not None:
            view = replace(self.view, topic=topic, thread_sender=sender_part is not None)
            legacy = _frozen(legacy_keys(view))
        return Placement(format_key(parts), legacy, tuple(self.reasons), True, parent.key)

    # -- legacy keys and the result

    def _view(self, kind: Kind, *, dm_scope: str = "per-channel-peer",
              dimensions: tuple[str, ...] = (),
              grouping: tuple[Part, ...] = (), native_chat: bool = True,
              ruled: bool = True) -> LegacyView:
        event, tables = self.event, self.tables
        return LegacyView(
            kind=kind, agent=event.agent, platform=event.platform, account=event.account,
            chat=self.chat, chat_type=self.chat_type, space=event.space, sender=self.sender,
            person=self.person, dm_scope=dm_scope, dimensions=dimensions, grouping=grouping,
            native_chat=native_chat, rule=self.rule.name if self.rule and ruled else None,
            main_key=tables.main_key, space_types=tables.space_types)

    def _done(self, parts: list[Part], view: LegacyView) -> Placement:
        self.view = view
        return Placement(format_key(parts), _frozen(legacy_keys(view)), tuple(self.reasons),
                         False, None)


def _frozen(legacy: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(legacy) if legacy else NO_LEGACY
