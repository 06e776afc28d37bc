"""A policy compiled for resolving: its tables, its memos, and `resolve` with its Resolution."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from eventlog.encoding_names import DEFAULT_ENCODING
from projections.errors import PolicyError
from projections.policy import Policy, errors_of, semantic_diagnostics
from projections.resolver.canonical import MEMO_LIMIT, Part, session_uuid
from projections.resolver.placer import (
    NO_LEGACY,
    Addressed,
    Placement,
    Placer,
    PolicyTables,
    Rule,
)

# The agent's own output: its sender is the agent, and it belongs where the answered message is.
AGENT_AUTHORED = frozenset({"message.sent", "tool.used"})

E = TypeVar("E", bound=Addressed)
# (reply_to, the reply) -> the session key of the answered message, or None when unknown.
ReplyLookup = Callable[[str, E], str | None]

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


class CompiledPolicy:
    """A policy turned into lookup tables, with memos of addresses already resolved."""

    def __init__(self, policy: Policy) -> None:
        errors = errors_of(semantic_diagnostics(policy))
        if errors:
            raise PolicyError("the policy cannot be used: " + "; ".join(map(str, errors)), errors)
        self.policy = policy
        # The encoding its token counts are in: the policy's. A projection's stored policy
        # always names one (`registry.create` fills in the deployment's); a policy read
        # from a file without one is in the default unless the caller filled it in.
        self.encoding = policy.encoding or DEFAULT_ENCODING
        self.fingerprint = policy.grouping_fingerprint()
        self.tables = _compile_tables(policy, self.fingerprint)
        self.triggers = frozenset(t.lower() for t in policy.reset.triggers)
        self.trigger_initials = frozenset(t[0] for t in self.triggers)
        tables = self.tables
        self.sender_matters = (tables.thread_per_sender is True
                               or "sender" in tables.dimensions or any(
            "sender" in rule.dimensions or any(name == "sender" for name, _ in rule.conditions)
            for rule in tables.rules))
        # Memos. Keys of different shapes live in different dicts, so they never collide.
        self._resolutions: dict[tuple[Any, ...], Resolution] = {}
        self._agent_outputs: dict[tuple[Any, ...], Resolution] = {}
        self._placements: dict[tuple[Any, ...], Placement] = {}

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
            placement = Placer(self.tables, event, by_agent=False).place()
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
            noted = Placement(own.key, own.legacy, (note, *own.reasons), own.is_thread,
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
            placement = Placement(answered_key, NO_LEGACY, (reason,), is_thread, None)
            found = _resolution(self, placement, epoch, trigger=False, via_reply=True)
            _remember(self._agent_outputs, memo_key, found)
        return found

    def _placement(self, event: Addressed, *, by_agent: bool) -> Placement:
        sender: str | bool | None = event.sender
        if by_agent or not (self.sender_matters or event.chat_type == "dm"):
            sender = sender is not None
        address = (by_agent, event.agent, event.platform, event.account, event.space,
                   event.chat, event.chat_type, event.topic, sender)
        found = self._placements.get(address)
        if found is None:
            found = Placer(self.tables, event, by_agent).place()
            _remember(self._placements, address, found)
        return found


# ------------------------------------------------------------- compiling tables


def _compile_tables(policy: Policy, fingerprint: str) -> PolicyTables:
    """The lookup tables the placer reads, in the shapes it probes them by."""
    label = f"policy {policy.name!r}" if policy.name else "the default policy"
    dimensions: tuple[str, ...] = policy.dimensions
    rules = tuple(_compile_rule(rule.name, rule.when.conditions(), rule.dimensions)
                  for rule in policy.rules)
    linked_qualified: dict[Part, str] = {}
    linked_bare: dict[str, str] = {}
    for person, raw_ids in policy.identity_links.items():
        for raw in raw_ids:
            linked_bare.setdefault(raw, person)
            platform, colon, raw_id = raw.partition(":")
            if colon:
                linked_qualified.setdefault((platform, raw_id), person)
    groups: dict[Part, str] = {
        _platform_and_chat(ref): group
        for group, refs in policy.channel_groups.items() for ref in refs
    }
    zones: dict[Part, str] = {}
    space_scopes: dict[Part, str] = {}
    overrides: dict[tuple[str, str, str], str] = {}
    for space_ref, space in policy.spaces.items():
        platform, space_id = _platform_and_chat(space_ref)
        space_scopes[(platform, space_id)] = space.session_scope
        for chat, override in space.channels.items():
            overrides[(platform, space_id, chat)] = override.session_scope
        for chat in space.privacy_zones:
            zones[(platform, chat)] = space_ref
    return PolicyTables(
        baseline_reason=(f"{label} (grouping {fingerprint[:12]}); sessions are "
                         "always separated by agent, platform and account"),
        dimensions=dimensions,
        dimensions_reason=(("no rule matched; " if rules else "")
                           + f"policy dimensions {_listing(dimensions)}"),
        dm_scope=policy.dm_scope,
        isolate_threads=policy.threads.isolate,
        inherit_parent=policy.threads.inherit_parent,
        rules=rules,
        linked_qualified=linked_qualified,
        linked_bare=linked_bare,
        groups=groups,
        zones=zones,
        space_scopes=space_scopes,
        overrides=overrides,
        platforms_with_spaces=frozenset(platform for platform, _ in space_scopes),
        account_dm_scopes={_platform_and_chat(ref): scope
                           for ref, scope in policy.account_dm_scopes.items()},
        thread_per_sender=policy.threads.per_sender,
        main_key=policy.gateways.openclaw.main_key,
        space_types=dict(policy.gateways.picoclaw.space_types),
    )


def _compile_rule(name: str, conditions: Mapping[str, tuple[str, ...]],
                  dimensions: tuple[str, ...]) -> Rule:
    reason = (f"rule {name!r} matched (first match wins): its traffic has its own sessions, "
              f"by {_listing(dimensions)}")
    return Rule(name, tuple((key, frozenset(values)) for key, values in conditions.items()),
                dimensions, reason)


def _platform_and_chat(ref: str) -> Part:
    platform, _, rest = ref.partition(":")
    return platform, rest


def _listing(dimensions: tuple[str, ...]) -> str:
    return "[" + ", ".join(dimensions) + "]" if dimensions else "[] (one session per account)"


# ------------------------------------------------------------ memos and results


def _remember(memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _resolution(compiled: CompiledPolicy, placement: Placement, epoch: int, *,
                trigger: bool, via_reply: bool) -> Resolution:
    reasons = placement.reasons
    if trigger:
        reasons = (*reasons, "the text is a reset trigger: it starts a new epoch of this session")
    return Resolution(
        key=placement.key,
        session_id=session_uuid(compiled.fingerprint, placement.key, epoch),
        epoch=epoch, legacy=placement.legacy, reasons=reasons,
        is_thread=placement.is_thread, parent_key=placement.parent_key,
        reset_trigger=trigger, via_reply=via_reply,
    )


# ------------------------------------------------------------------ entry points


def session_id_for(policy: Policy | CompiledPolicy, key: str, epoch: int = 0) -> uuid.UUID:
    """The deterministic session id of a key at an epoch under a policy's grouping."""
    fingerprint = (policy.fingerprint if isinstance(policy, CompiledPolicy)
                   else policy.grouping_fingerprint())
    return session_uuid(fingerprint, key, epoch)


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
