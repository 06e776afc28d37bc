"""The Python fold: what each event does to a batch's heads, sessions and message index."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection

from eventlog.store import StoredEvent
from projections.errors import ResolveError, UnfoldableEvent
from projections.projector.interface import FoldOutcome
from projections.projector.state import (
    CHANGE_KINDS,
    MEMBER_KINDS,
    Head,
    IndexedMessage,
    MessageRef,
    Session,
)
from projections.projector.tables import (
    Row,
    copy_new_rows,
    load_heads,
    load_index,
    load_origins,
    load_sessions,
    member_totals_upto,
    upsert_heads,
    upsert_sessions,
)
from projections.resets import timed_reset
from projections.resolver import CompiledPolicy, Resolution, session_id_for

# Times the fold's calendar arithmetic (daily boundaries in any zone, a day back)
# can handle; wider than what the edge accepts, so every accepted event folds.
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 1, 1, tzinfo=UTC)
_BIGINT = 2**63


def fold_batch(conn: Connection, projection_id: int, policy: CompiledPolicy,
               events: Sequence[StoredEvent], /) -> FoldOutcome:
    """The default BatchFold: load what the batch needs, fold it in memory, write it."""
    fold = Fold(projection_id, policy)
    fold.load(conn, events)
    fold.apply(events)
    fold.flush(conn)
    return FoldOutcome(members=len(fold.new_members),
                       sessions_touched=sum(1 for s in fold.sessions.values() if s.dirty))


class Fold:
    """One batch's worth of projection work, in memory, then written in one go.

    Everything the fold reads from earlier batches (heads, sessions, indexed
    messages) is loaded before it starts, so the result depends only on the
    events and never on where batch boundaries fell.
    """

    def __init__(self, projection_id: int, policy: CompiledPolicy) -> None:
        self.projection_id = projection_id
        self.policy = policy
        self.heads: dict[str, Head] = {}
        self.sessions: dict[uuid.UUID, Session] = {}
        self.index: dict[MessageRef, IndexedMessage] = {}
        self.thread_origins: dict[str, tuple[uuid.UUID, int]] = {}
        self.new_members: list[Row] = []
        self.new_index: list[Row] = []
        self.new_changes: list[Row] = []
        self.new_summaries: list[Row] = []
        self.new_origins: list[Row] = []
        self.pending_members: dict[uuid.UUID, list[tuple[int, int, int]]] = {}
        self.deferred_covers: list[tuple[uuid.UUID, int]] = []

    # -- loading what earlier batches left --------------------------------------

    def load(self, conn: Connection, events: Sequence[StoredEvent]) -> None:
        keys: set[str] = set()
        refs: set[MessageRef] = set()
        summary_sessions: set[uuid.UUID] = set()
        for event in events:
            check_foldable(event)
            if event.type == "summary.recorded":
                summary_sessions.add(summary_target(event)[0])
                continue
            resolution = self.policy.resolve(event)
            keys.add(resolution.key)
            if resolution.parent_key:
                keys.add(resolution.parent_key)
            if event.type in MEMBER_KINDS and event.message_id and event.chat:
                # A message id seen in an earlier batch keeps its first place, as a
                # one-pass rebuild would: load it so this batch knows it is taken.
                refs.add((event.agent, event.platform, event.account, event.chat,
                          event.message_id))
            target = _target_message_id(event)
            if target is not None and event.chat is not None:
                refs.add((event.agent, event.platform, event.account, event.chat, target))
        self.heads.update(load_heads(conn, self.projection_id, keys))
        self.index.update(load_index(conn, self.projection_id, refs))
        self.thread_origins.update(load_origins(conn, self.projection_id, keys))
        wanted = {h.session_id for h in self.heads.values()}
        wanted |= {m.session_id for m in self.index.values()} | summary_sessions
        self.sessions.update(load_sessions(conn, self.projection_id, wanted))

    # -- folding --------------------------------------------------------------------

    def apply(self, events: Iterable[StoredEvent]) -> None:
        for event in events:
            handler = _HANDLERS.get(event.type)
            if handler is not None:
                handler(self, event)

    def _message(self, event: StoredEvent) -> None:
        session = None
        if event.type != "message.received" and event.reply_to and event.chat:
            answered = self.index.get((event.agent, event.platform, event.account, event.chat,
                                       event.reply_to))
            if answered is not None:
                session = self.sessions[answered.session_id]
        if session is None:
            resolution = self.policy.resolve(event)
            head = self._head(resolution.key)
            if event.type == "message.received":
                if resolution.reset_trigger:
                    self._reset(head, "trigger")
                    return
                reason = timed_reset(self.policy.policy.reset, head.last_user_at,
                                     event.occurred_at)
                if reason is not None and head.session_id in self.sessions:
                    self._reset(head, reason)
                if head.last_user_at is None or event.occurred_at > head.last_user_at:
                    head.last_user_at = event.occurred_at
                    head.dirty = True
            session = self.sessions.get(head.session_id) or self._open(head, event, resolution)
        self._add_member(session, event)

    def _head(self, key: str) -> Head:
        head = self.heads.get(key)
        if head is None:
            head = Head(key, session_id_for(self.policy, key, 0), 0, "first message", None,
                        dirty=True)
            self.heads[key] = head
        return head

    def _reset(self, head: Head, reason: str) -> None:
        head.epoch += 1
        head.session_id = session_id_for(self.policy, head.key, head.epoch)
        head.started_by = reason
        head.dirty = True

    def _open(self, head: Head, event: StoredEvent, resolution: Resolution) -> Session:
        parent: tuple[uuid.UUID, int] | None = None
        if resolution.is_thread and self.policy.policy.threads.inherit_parent:
            parent = self.thread_origins.get(head.key)
        session = Session(
            session_id=head.session_id, key=head.key, epoch=head.epoch,
            started_by=head.started_by,
            agent=event.agent, platform=event.platform, legacy_keys=dict(resolution.legacy),
            first_at=event.occurred_at, last_at=event.occurred_at, last_user_at=None,
            first_position=event.position, last_position=event.position,
            parent_session_id=parent[0] if parent else None,
            parent_position=parent[1] if parent else None, dirty=True,
        )
        self.sessions[session.session_id] = session
        return session

    def _add_member(self, session: Session, event: StoredEvent) -> None:
        session.message_count += 1
        session.running_total += event.tokens
        session.token_total += event.tokens
        session.first_at = min(session.first_at, event.occurred_at)
        session.last_at = max(session.last_at, event.occurred_at)
        session.last_position = event.position
        kind = MEMBER_KINDS[event.type]
        if kind == "user":
            session.last_user_at = max(session.last_user_at or event.occurred_at,
                                       event.occurred_at)
            if event.sender and event.sender not in session.participants:
                session.participants.append(event.sender)
        if event.chat and event.chat not in session.chats:
            session.chats.append(event.chat)
        session.dirty = True
        self.new_members.append((
            self.projection_id, session.session_id, event.position, kind, event.message_id,
            event.sender, session.message_count, event.tokens, session.running_total,
        ))
        self.pending_members.setdefault(session.session_id, []).append(
            (event.position, session.message_count, session.running_total))
        if event.message_id and event.chat:
            ref = (event.agent, event.platform, event.account, event.chat, event.message_id)
            if ref not in self.index:
                self.index[ref] = IndexedMessage(session.session_id, event.position, event.tokens)
                self.new_index.append((self.projection_id, *ref, session.session_id,
                                       event.position))

    def _change(self, event: StoredEvent) -> None:
        if not (event.chat and event.message_id):
            return
        target = self.index.get((event.agent, event.platform, event.account, event.chat,
                                 event.message_id))
        if target is None:
            return  # the message never reached this log, or is not a session member
        change = CHANGE_KINDS[event.type]
        tokens = event.tokens if change == "edited" else 0
        session = self.sessions[target.session_id]
        session.token_total += tokens - target.tokens
        session.dirty = True
        target.tokens = tokens
        self.new_changes.append((self.projection_id, target.session_id, target.position,
                                 event.position, change, tokens))

    def _reset_event(self, event: StoredEvent) -> None:
        try:
            resolution = self.policy.resolve(event)
        except ResolveError:
            return
        head = self.heads.get(resolution.key)
        if head is not None and head.session_id in self.sessions:
            self._reset(head, "session.reset")

    def _thread_created(self, event: StoredEvent) -> None:
        resolution = self.policy.resolve(event)
        if not resolution.is_thread or resolution.key in self.thread_origins:
            return
        parent_id: uuid.UUID | None = None
        parent_message = event.payload.get("parent_message_id")
        if event.chat and parent_message:
            found = self.index.get((event.agent, event.platform, event.account, event.chat,
                                    str(parent_message)))
            parent_id = found.session_id if found else None
        if parent_id is None and resolution.parent_key:
            parent_head = self.heads.get(resolution.parent_key)
            parent_id = parent_head.session_id if parent_head else None
        if parent_id is None:
            return
        self.thread_origins[resolution.key] = (parent_id, event.position)
        self.new_origins.append((self.projection_id, resolution.key, parent_id, event.position))

    def _summary(self, event: StoredEvent) -> None:
        session_id, covers = summary_target(event)
        session = self.sessions.get(session_id)
        if session is None:
            return  # a summary for a session of another grouping
        if session.summary_position is not None and covers <= session.summary_position:
            return
        session.summary_position = covers
        session.summarized_count, session.summarized_tokens = self._covered(session, covers)
        session.dirty = True
        self.new_summaries.append((self.projection_id, session.session_id, event.position,
                                   covers, event.tokens))

    def _covered(self, session: Session, covers: int) -> tuple[int, int]:
        """(message count, running tokens) of the session up to `covers`."""
        if covers >= session.last_position:
            return session.message_count, session.running_total
        covered = [(seq, running) for position, seq, running
                   in self.pending_members.get(session.session_id, []) if position <= covers]
        if covered:
            return covered[-1]
        if covers < session.first_position:
            return 0, 0
        # Covered members were written by an earlier batch: look them up at flush.
        self.deferred_covers.append((session.session_id, covers))
        return session.summarized_count, session.summarized_tokens

    # -- compaction signals -----------------------------------------------------------

    def flag_compaction(self) -> None:
        compaction = self.policy.policy.compaction
        for session in self.sessions.values():
            if not session.dirty:
                continue
            reasons = []
            since_count = session.message_count - session.summarized_count
            since_tokens = session.running_total - session.summarized_tokens
            limit = compaction.context_limit_tokens * compaction.summarize_token_percent / 100
            if compaction.summarize_threshold and since_count >= compaction.summarize_threshold:
                reasons.append(f"{since_count} messages since the last summary "
                               f"(summarize_threshold {compaction.summarize_threshold})")
            if since_tokens >= limit:
                reasons.append(f"{since_tokens} tokens since the last summary, over "
                               f"{compaction.summarize_token_percent}% of "
                               f"{compaction.context_limit_tokens}")
            if compaction.max_messages is not None and since_count > compaction.max_messages:
                reasons.append(f"{since_count} messages, over max_messages "
                               f"{compaction.max_messages}")
            if compaction.max_age_minutes is not None:
                age = (session.last_at - session.first_at).total_seconds() / 60
                if age > compaction.max_age_minutes:
                    reasons.append(f"{age:.0f} minutes old, over max_age_minutes "
                                   f"{compaction.max_age_minutes}")
            session.needs_summary = bool(reasons)
            session.summary_reason = "; ".join(reasons) or None

    # -- writing ----------------------------------------------------------------------

    def flush(self, conn: Connection) -> None:
        self._resolve_deferred_covers(conn)
        self.flag_compaction()
        copy_new_rows(conn, members=self.new_members, index=self.new_index,
                             changes=self.new_changes, summaries=self.new_summaries,
                             origins=self.new_origins)
        upsert_sessions(conn, self.projection_id,
                               (s for s in self.sessions.values() if s.dirty))
        upsert_heads(conn, self.projection_id, (h for h in self.heads.values() if h.dirty))

    def _resolve_deferred_covers(self, conn: Connection) -> None:
        for session_id, covers in self.deferred_covers:
            session = self.sessions[session_id]
            if session.summary_position != covers:
                continue  # a later summary of this batch replaced this one
            session.summarized_count, session.summarized_tokens = member_totals_upto(
                conn, self.projection_id, session_id, covers)


def check_foldable(event: StoredEvent) -> None:
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


def summary_target(event: StoredEvent) -> tuple[uuid.UUID, int]:
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


def _target_message_id(event: StoredEvent) -> str | None:
    if event.type in CHANGE_KINDS:
        return event.message_id
    if event.type in ("message.sent", "tool.used"):
        return event.reply_to
    if event.type == "thread.created":
        value = event.payload.get("parent_message_id")
        return str(value) if value is not None else None
    return None


_HANDLERS: dict[str, Callable[[Fold, StoredEvent], None]] = {
    "message.received": Fold._message,
    "message.sent": Fold._message,
    "tool.used": Fold._message,
    "message.edited": Fold._change,
    "message.deleted": Fold._change,
    "content.redacted": Fold._change,
    "session.reset": Fold._reset_event,
    "thread.created": Fold._thread_created,
    "summary.recorded": Fold._summary,
}
