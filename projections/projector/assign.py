"""Which session each event of a batch joins: the one part of the fold that is sequential.

Resets (commands, idle gaps, daily boundaries), reply routing, thread origins
and summaries depend on what came before in the same conversation, so they are
decided here, event by event, from envelopes alone. Everything that is
arithmetic over the members (sequence numbers, running token totals, session
aggregates, edits' effect on totals, compaction flags) is left to the set-based
statements in `projections.projector.sets`, which run over the whole batch.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eventlog.envelopes import Envelope
from projections.errors import UnfoldableEvent
from projections.projector.state import CHANGE_KINDS, Head, MessageRef
from projections.resets import timed_reset
from projections.resolver import CompiledPolicy, Resolution, session_id_for

# Times the fold's calendar arithmetic (daily boundaries in any zone, a day back)
# can handle; wider than what the edge accepts, so every accepted event folds.
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 1, 1, tzinfo=UTC)
_BIGINT = 2**63

Indexed = tuple[uuid.UUID, int]  # (session, position) of an indexed message


@dataclass(slots=True)
class Known:
    """What earlier batches left that this batch's decisions depend on."""

    heads: dict[str, Head] = field(default_factory=dict)
    index: dict[MessageRef, Indexed] = field(default_factory=dict)
    origins: dict[str, tuple[uuid.UUID, int]] = field(default_factory=dict)
    # Sessions that exist, with the last position their current summary covers.
    sessions: dict[uuid.UUID, int | None] = field(default_factory=dict)


@dataclass(slots=True)
class Wanted:
    """The keys, sessions and thread parents a batch's decisions can touch.

    The message references its events name (their own ids, replies' and
    changes' targets) are read by the loader from the events themselves;
    only thread parents, which live in payloads, are listed here.
    """

    keys: set[str] = field(default_factory=set)
    parents: set[MessageRef] = field(default_factory=set)
    sessions: set[uuid.UUID] = field(default_factory=set)
    # Each event's resolution (None where the event resolves no address), in order.
    resolutions: list[Resolution | None] = field(default_factory=list)


@dataclass(slots=True)
class Assignment:
    """The batch's decisions, as rows for the set-based statements."""

    member_sessions: list[uuid.UUID] = field(default_factory=list)
    member_positions: list[int] = field(default_factory=list)
    member_indexed: list[bool] = field(default_factory=list)
    # (session, key, epoch, started_by, agent, platform, legacy keys JSON, parent, parent pos)
    opened: list[tuple[object, ...]] = field(default_factory=list)
    # (session, target position, position, change)
    changes: list[tuple[uuid.UUID, int, int, str]] = field(default_factory=list)
    # (session, position, covers): every summary that moved its session's summary forward
    summaries: list[tuple[uuid.UUID, int, int]] = field(default_factory=list)
    # (thread key, parent session, parent position)
    origins: list[tuple[str, uuid.UUID, int]] = field(default_factory=list)
    heads: list[Head] = field(default_factory=list)


def wanted(policy: CompiledPolicy, events: Iterable[Envelope]) -> Wanted:
    """What to load before assigning `events`; refuses unfoldable events first."""
    want = Wanted()
    keys, resolutions = want.keys, want.resolutions
    resolve = policy.resolve
    for event in events:
        check_foldable(event)
        if event.type == "summary.recorded":
            want.sessions.add(summary_target(event)[0])
            resolutions.append(None)
            continue
        resolution = resolve(event)  # a ResolveError is the event's to blame: quarantined
        resolutions.append(resolution)
        keys.add(resolution.key)
        if resolution.parent_key:
            keys.add(resolution.parent_key)
        if event.type == "thread.created" and event.chat is not None:
            target = _target_message_id(event)
            if target is not None:
                want.parents.add((event.agent, event.platform, event.account, event.chat,
                                  target))
    return want


class Assigner:
    """Walks a batch in position order, deciding each event's session."""

    def __init__(self, policy: CompiledPolicy, known: Known) -> None:
        self.policy = policy
        self.reset_policy = policy.policy.reset
        self.inherit = policy.policy.threads.inherit_parent
        self.known = known
        self.out = Assignment()
        self._dirty: dict[str, Head] = {}

    def run(self, events: Sequence[Envelope],
            resolutions: Sequence[Resolution | None]) -> Assignment:
        """Assign `events`, given each one's resolution as `wanted` found it."""
        handlers = _HANDLERS
        for event, resolution in zip(events, resolutions, strict=True):
            handler = handlers.get(event.type)
            if handler is not None:
                handler(self, event, resolution)
        self.out.heads = list(self._dirty.values())
        return self.out

    def _message(self, event: Envelope, resolution: Resolution | None) -> None:
        known = self.known
        session_id: uuid.UUID | None = None
        if event.type != "message.received" and event.reply_to and event.chat:
            answered = known.index.get((event.agent, event.platform, event.account,
                                        event.chat, event.reply_to))
            if answered is not None:
                session_id = answered[0]
        if session_id is None:
            assert resolution is not None
            head = self._head(resolution.key)
            if event.type == "message.received":
                if resolution.reset_trigger:
                    self._reset(head, "trigger")
                    return
                reason = timed_reset(self.reset_policy, head.last_user_at, event.occurred_at)
                if reason is not None and head.session_id in known.sessions:
                    self._reset(head, reason)
                if head.last_user_at is None or event.occurred_at > head.last_user_at:
                    head.last_user_at = event.occurred_at
                    self._dirty[head.key] = head
            session_id = head.session_id
            if session_id not in known.sessions:
                self._open(head, event, resolution)
        self._add_member(session_id, event)

    def _head(self, key: str) -> Head:
        head = self.known.heads.get(key)
        if head is None:
            head = Head(key, session_id_for(self.policy, key, 0), 0, "first message", None)
            self.known.heads[key] = head
            self._dirty[key] = head
        return head

    def _reset(self, head: Head, reason: str) -> None:
        head.epoch += 1
        head.session_id = session_id_for(self.policy, head.key, head.epoch)
        head.started_by = reason
        self._dirty[head.key] = head

    def _open(self, head: Head, event: Envelope, resolution: Resolution) -> None:
        parent: tuple[uuid.UUID, int] | None = None
        if resolution.is_thread and self.inherit:
            parent = self.known.origins.get(head.key)
        self.known.sessions[head.session_id] = None
        self.out.opened.append((
            head.session_id, head.key, head.epoch, head.started_by, event.agent,
            event.platform, json.dumps(dict(resolution.legacy), sort_keys=True),
            parent[0] if parent else None, parent[1] if parent else None))

    def _add_member(self, session_id: uuid.UUID, event: Envelope) -> None:
        out = self.out
        out.member_sessions.append(session_id)
        out.member_positions.append(event.position)
        indexed = False
        if event.message_id and event.chat:
            ref = (event.agent, event.platform, event.account, event.chat, event.message_id)
            index = self.known.index
            if ref not in index:
                index[ref] = (session_id, event.position)
                indexed = True
        out.member_indexed.append(indexed)

    def _change(self, event: Envelope, _: Resolution | None) -> None:
        if not (event.chat and event.message_id):
            return
        target = self.known.index.get((event.agent, event.platform, event.account, event.chat,
                                       event.message_id))
        if target is None:
            return  # the message never reached this log, or is not a session member
        self.out.changes.append((target[0], target[1], event.position,
                                 CHANGE_KINDS[event.type]))

    def _reset_event(self, event: Envelope, resolution: Resolution | None) -> None:
        if resolution is None:
            return
        head = self.known.heads.get(resolution.key)
        if head is not None and head.session_id in self.known.sessions:
            self._reset(head, "session.reset")

    def _thread_created(self, event: Envelope, resolution: Resolution | None) -> None:
        assert resolution is not None
        origins = self.known.origins
        if not resolution.is_thread or resolution.key in origins:
            return
        parent_id: uuid.UUID | None = None
        parent_message = event.payload.get("parent_message_id")
        if event.chat and parent_message:
            found = self.known.index.get((event.agent, event.platform, event.account,
                                          event.chat, str(parent_message)))
            parent_id = found[0] if found else None
        if parent_id is None and resolution.parent_key:
            parent_head = self.known.heads.get(resolution.parent_key)
            parent_id = parent_head.session_id if parent_head else None
        if parent_id is None:
            return
        origins[resolution.key] = (parent_id, event.position)
        self.out.origins.append((resolution.key, parent_id, event.position))

    def _summary(self, event: Envelope, _: Resolution | None) -> None:
        session_id, covers = summary_target(event)
        sessions = self.known.sessions
        if session_id not in sessions:
            return  # a summary for a session of another grouping
        current = sessions[session_id]
        if current is not None and covers <= current:
            return
        sessions[session_id] = covers
        self.out.summaries.append((session_id, event.position, covers))


def check_foldable(event: Envelope) -> None:
    """Refuse, before anything is folded, an event whose fault would surface elsewhere.

    A time out of range would not fail on its own event but on the next
    message of its session (a daily boundary computed from it overflows), and
    the blame would fall on a good event; a bad summary is refused whatever
    the policy, so that every projection quarantines the same events.
    """
    if not EARLIEST.year <= event.occurred_at.year < LATEST.year:  # cheaper than comparing
        raise UnfoldableEvent(
            f"occurred_at {event.occurred_at.isoformat()} is outside "
            f"{EARLIEST.year:04d}-{LATEST.year - 1:04d}, where session resets cannot be "
            "computed", code="TIME_OUT_OF_RANGE")
    if event.type == "summary.recorded":
        summary_target(event)


def summary_target(event: Envelope) -> tuple[uuid.UUID, int]:
    """(session id, last position covered) of a summary.recorded, or UnfoldableEvent."""
    raw_id, raw_position = event.payload.get("session_id"), event.payload.get("position")
    try:
        session_id = uuid.UUID(str(raw_id))
    except ValueError:
        raise UnfoldableEvent(f"summary session_id {str(raw_id)[:80]!r} is not a UUID",
                              code="INVALID_SESSION_ID") from None
    covers: int | None = None
    if isinstance(raw_position, int) and not isinstance(raw_position, bool):
        covers = raw_position
    elif isinstance(raw_position, float) and math.isfinite(raw_position) \
            and raw_position.is_integer():
        covers = int(raw_position)
    if covers is None or not -_BIGINT <= covers < _BIGINT:
        raise UnfoldableEvent(f"summary position {str(raw_position)[:40]} is not a position "
                              "(an integer within bigint)", code="POSITION_OUT_OF_RANGE")
    return session_id, covers


def _target_message_id(event: Envelope) -> str | None:
    if event.type in CHANGE_KINDS:
        return event.message_id
    if event.type in ("message.sent", "tool.used"):
        return event.reply_to
    if event.type == "thread.created":
        value = event.payload.get("parent_message_id")
        return str(value) if value is not None else None
    return None


_HANDLERS: dict[str, Callable[[Assigner, Envelope, Resolution | None], None]] = {
    "message.received": Assigner._message,
    "message.sent": Assigner._message,
    "tool.used": Assigner._message,
    "message.edited": Assigner._change,
    "message.deleted": Assigner._change,
    "content.redacted": Assigner._change,
    "session.reset": Assigner._reset_event,
    "thread.created": Assigner._thread_created,
    "summary.recorded": Assigner._summary,
}
