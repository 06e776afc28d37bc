"""The projector: folds the log into sessions, exactly once, in bounded batches."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from eventlog.store import EventStore, Partition, StoredEvent
from projections.errors import ResolveError, StaleCheckpoint
from projections.registry import ProjectionInfo, get, projector_lock_key, slice_lock_key
from projections.resets import timed_reset
from projections.resolver import CompiledPolicy, compile_policy, session_id_for

MEMBER_KINDS = {"message.received": "user", "message.sent": "assistant", "tool.used": "tool"}
CHANGE_KINDS = {"message.edited": "edited", "message.deleted": "deleted",
                "content.redacted": "redacted"}
MessageRef = tuple[str, str, str, str, str]
TRIGGER_TEXT_CHARS = 256  # agent, platform, account, chat, message_id


@dataclass(slots=True)
class Head:
    key: str
    session_id: uuid.UUID
    epoch: int
    started_by: str
    last_user_at: datetime | None
    dirty: bool = False


@dataclass(slots=True)
class Session:
    session_id: uuid.UUID
    key: str
    epoch: int
    started_by: str
    agent: str
    platform: str
    legacy_keys: dict[str, str]
    first_at: datetime
    last_at: datetime
    last_user_at: datetime | None
    first_position: int
    last_position: int
    message_count: int = 0
    token_total: int = 0
    running_total: int = 0
    summary_position: int | None = None
    summarized_count: int = 0
    summarized_tokens: int = 0
    participants: list[str] = field(default_factory=list)
    chats: list[str] = field(default_factory=list)
    parent_session_id: uuid.UUID | None = None
    parent_position: int | None = None
    needs_summary: bool = False
    summary_reason: str | None = None
    dirty: bool = False


@dataclass(slots=True)
class IndexedMessage:
    session_id: uuid.UUID
    position: int
    tokens: int  # as the context shows it now: after edits, 0 once deleted


@dataclass
class BatchResult:
    events: int
    checkpoint: int
    members: int = 0
    sessions_touched: int = 0


@dataclass
class CatchUpResult:
    events: int = 0
    batches: int = 0
    checkpoint: int = 0
    seconds: float = 0.0
    skipped: bool = False

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


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
        self.new_members: list[tuple[Any, ...]] = []
        self.new_index: list[tuple[Any, ...]] = []
        self.new_changes: list[tuple[Any, ...]] = []
        self.new_summaries: list[tuple[Any, ...]] = []
        self.new_origins: list[tuple[Any, ...]] = []
        self.pending_members: dict[uuid.UUID, list[tuple[int, int, int]]] = {}
        self.deferred_covers: list[tuple[uuid.UUID, int]] = []

    # -- loading what earlier batches left --------------------------------------

    def load(self, conn: Connection, events: Sequence[StoredEvent]) -> None:
        keys: set[str] = set()
        refs: set[MessageRef] = set()
        summary_sessions: set[uuid.UUID] = set()
        for event in events:
            if event.type == "summary.recorded":
                summary_sessions.add(uuid.UUID(str(event.payload["session_id"])))
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
        self._load_heads(conn, keys)
        self._load_index(conn, refs)
        self._load_origins(conn, keys)
        wanted = {h.session_id for h in self.heads.values()}
        wanted |= {m.session_id for m in self.index.values()} | summary_sessions
        self._load_sessions(conn, wanted)

    def _load_heads(self, conn: Connection, keys: set[str]) -> None:
        rows = conn.execute(text(
            "SELECT key, session_id, epoch, started_by, last_user_at FROM session_heads "
            "WHERE projection_id = :p AND key = ANY(:keys)"),
            {"p": self.projection_id, "keys": list(keys)})
        for row in rows:
            self.heads[row.key] = Head(row.key, row.session_id, row.epoch, row.started_by,
                                       row.last_user_at)

    def _load_index(self, conn: Connection, refs: set[MessageRef]) -> None:
        if not refs:
            return
        agents, platforms, accounts, chats, ids = (
            list(column) for column in zip(*refs, strict=True))
        rows = conn.execute(text(
            "SELECT i.agent, i.platform, i.account, i.chat, i.message_id, i.session_id, "
            "       i.position, CASE WHEN c.change IN ('deleted', 'redacted') THEN 0 "
            "                        ELSE coalesce(c.tokens, m.tokens) END AS tokens "
            "  FROM unnest(CAST(:agents AS text[]), CAST(:platforms AS text[]), "
            "       CAST(:accounts AS text[]), CAST(:chats AS text[]), CAST(:ids AS text[])) "
            "       AS r(agent, platform, account, chat, message_id) "
            "  JOIN message_index i ON i.projection_id = :p AND i.agent = r.agent "
            "   AND i.platform = r.platform AND i.account = r.account AND i.chat = r.chat "
            "   AND i.message_id = r.message_id "
            "  JOIN session_members m ON m.projection_id = :p AND m.session_id = i.session_id "
            "   AND m.position = i.position "
            "  LEFT JOIN LATERAL (SELECT change, tokens FROM member_changes mc "
            "        WHERE mc.projection_id = :p AND mc.session_id = i.session_id "
            "          AND mc.target_position = i.position ORDER BY mc.position DESC LIMIT 1"
            "  ) c ON true"),
            {"p": self.projection_id, "agents": agents, "platforms": platforms,
             "accounts": accounts, "chats": chats, "ids": ids})
        for row in rows:
            ref = (row.agent, row.platform, row.account, row.chat, row.message_id)
            self.index[ref] = IndexedMessage(row.session_id, row.position, row.tokens)

    def _load_origins(self, conn: Connection, keys: set[str]) -> None:
        rows = conn.execute(text(
            "SELECT thread_key, parent_session_id, parent_position FROM thread_origins "
            "WHERE projection_id = :p AND thread_key = ANY(:keys)"),
            {"p": self.projection_id, "keys": list(keys)})
        for row in rows:
            self.thread_origins[row.thread_key] = (row.parent_session_id, row.parent_position)

    def _load_sessions(self, conn: Connection, ids: set[uuid.UUID]) -> None:
        if not ids:
            return
        rows = conn.execute(text(
            "SELECT * FROM sessions WHERE projection_id = :p AND session_id = ANY(:ids)"),
            {"p": self.projection_id, "ids": list(ids)})
        for row in rows:
            values = {name: getattr(row, name) for name in _SESSION_COLUMNS}
            values["participants"] = list(values["participants"])
            values["chats"] = list(values["chats"])
            self.sessions[row.session_id] = Session(**values)

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

    def _open(self, head: Head, event: StoredEvent, resolution: Any) -> Session:
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
        session = self.sessions.get(uuid.UUID(str(event.payload["session_id"])))
        if session is None:
            return  # a summary for a session of another grouping
        covers = int(event.payload["position"])
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
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        _copy(cursor, "session_members", _MEMBER_COLUMNS, self.new_members)
        _copy(cursor, "message_index", _INDEX_COLUMNS, self.new_index)
        _copy(cursor, "member_changes", _CHANGE_COLUMNS, self.new_changes)
        _copy(cursor, "session_summaries", _SUMMARY_COLUMNS, self.new_summaries)
        _copy(cursor, "thread_origins", _ORIGIN_COLUMNS, self.new_origins)
        dirty_sessions = [s for s in self.sessions.values() if s.dirty]
        if dirty_sessions:
            conn.execute(text(_UPSERT_SESSION), [
                {"p": self.projection_id, **{c: getattr(s, c) for c in _SESSION_COLUMNS},
                 "legacy_keys": _json(s.legacy_keys)} for s in dirty_sessions])
        dirty_heads = [h for h in self.heads.values() if h.dirty]
        if dirty_heads:
            conn.execute(text(_UPSERT_HEAD), [
                {"p": self.projection_id, "key": h.key, "session_id": h.session_id,
                 "epoch": h.epoch, "started_by": h.started_by,
                 "last_user_at": h.last_user_at} for h in dirty_heads])

    def _resolve_deferred_covers(self, conn: Connection) -> None:
        for session_id, covers in self.deferred_covers:
            if self.sessions[session_id].summary_position != covers:
                continue  # a later summary of this batch replaced this one
            row = conn.execute(text(
                "SELECT seq, running_tokens FROM session_members WHERE projection_id = :p "
                "AND session_id = :s AND position <= :c ORDER BY position DESC LIMIT 1"),
                {"p": self.projection_id, "s": session_id, "c": covers}).first()
            session = self.sessions[session_id]
            session.summarized_count, session.summarized_tokens = (
                (row.seq, row.running_tokens) if row else (0, 0))


def _target_message_id(event: StoredEvent) -> str | None:
    if event.type in CHANGE_KINDS:
        return event.message_id
    if event.type in ("message.sent", "tool.used"):
        return event.reply_to
    if event.type == "thread.created":
        value = event.payload.get("parent_message_id")
        return str(value) if value is not None else None
    return None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


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
_SESSION_COLUMNS = (
    "session_id", "key", "epoch", "started_by", "agent", "platform", "legacy_keys", "first_at",
    "last_at", "last_user_at", "first_position", "last_position", "message_count",
    "token_total", "running_total", "summary_position", "summarized_count",
    "summarized_tokens", "participants", "chats", "parent_session_id", "parent_position",
    "needs_summary", "summary_reason",
)
_UPSERT_SESSION = (
    f"INSERT INTO sessions (projection_id, {', '.join(_SESSION_COLUMNS)}) VALUES (:p, "
    + ", ".join("CAST(:legacy_keys AS jsonb)" if c == "legacy_keys" else f":{c}"
                for c in _SESSION_COLUMNS)
    + ") ON CONFLICT (projection_id, session_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SESSION_COLUMNS if c != "session_id")
)
_UPSERT_HEAD = (
    "INSERT INTO session_heads (projection_id, key, session_id, epoch, started_by, "
    "last_user_at) VALUES (:p, :key, :session_id, :epoch, :started_by, :last_user_at) "
    "ON CONFLICT (projection_id, key) DO UPDATE SET session_id = EXCLUDED.session_id, "
    "epoch = EXCLUDED.epoch, started_by = EXCLUDED.started_by, "
    "last_user_at = EXCLUDED.last_user_at"
)
_MEMBER_COLUMNS = ("projection_id", "session_id", "position", "kind", "message_id", "sender",
                   "seq", "tokens", "running_tokens")
_INDEX_COLUMNS = ("projection_id", "agent", "platform", "account", "chat", "message_id",
                  "session_id", "position")
_CHANGE_COLUMNS = ("projection_id", "session_id", "target_position", "position", "change",
                   "tokens")
_SUMMARY_COLUMNS = ("projection_id", "session_id", "position", "covers_position", "tokens")
_ORIGIN_COLUMNS = ("projection_id", "thread_key", "parent_session_id", "parent_position")


BatchHook = Callable[[str, int], None]


class Projector:
    """Catches one projection up with the log, batch by batch."""

    def __init__(self, engine: Engine, store: EventStore, name: str | None = None, *,
                 batch_size: int = 5_000, hook: BatchHook | None = None,
                 partition: Partition | None = None) -> None:
        self.engine = engine
        self.store = store
        self.name = name
        self.batch_size = batch_size
        self.hook = hook  # tests use it to crash at chosen points
        self.partition = partition  # one slice of a parallel rebuild (projections.parallel)

    def info(self) -> ProjectionInfo:
        with self.engine.connect() as conn:
            return get(conn, self.name)

    def catch_up(self, *, max_batches: int | None = None,
                 on_batch: Callable[[BatchResult], None] | None = None) -> CatchUpResult:
        """Project everything up to the horizon; a no-op if another projector holds the lock."""
        info = self.info()
        compiled = compile_policy(info.policy)
        result = CatchUpResult(checkpoint=info.checkpoint)
        started = time.perf_counter()
        with self.engine.connect() as lock_conn:
            if not self._lock(lock_conn, info.id):
                lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
                lock_conn.commit()
                result.skipped = True
                return result
            try:
                while max_batches is None or result.batches < max_batches:
                    batch = self.run_batch(info.id, compiled)
                    if batch is None:
                        break
                    result.events += batch.events
                    result.batches += 1
                    result.checkpoint = batch.checkpoint
                    if on_batch is not None:
                        on_batch(batch)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
                lock_conn.commit()
        result.seconds = time.perf_counter() - started
        return result

    def _lock(self, conn: Connection, projection_id: int) -> bool:
        """One projector per projection; slices of a parallel build share it among them."""
        key = projector_lock_key(projection_id)
        if self.partition is None:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                return False
            # A parallel build that has not been merged owns the projection.
            return conn.execute(text("SELECT 1 FROM projection_slices WHERE projection_id = :p"),
                                {"p": projection_id}).first() is None
        slice_key = slice_lock_key(projection_id, self.partition.index)
        return bool(conn.execute(
            text("SELECT pg_try_advisory_lock_shared(:k) AND pg_try_advisory_lock(:s)"),
            {"k": key, "s": slice_key}).scalar())

    def _checkpoint(self, conn: Connection, projection_id: int) -> tuple[int, int | None]:
        if self.partition is None:
            return conn.execute(text("SELECT checkpoint FROM projections WHERE id = :id"),
                                {"id": projection_id}).scalar_one(), None
        row = conn.execute(text(
            "SELECT checkpoint, upto FROM projection_slices WHERE projection_id = :p "
            "AND slice = :s"), {"p": projection_id, "s": self.partition.index}).one()
        return row.checkpoint, row.upto

    def _move_checkpoint(self, conn: Connection, projection_id: int, old: int, new: int) -> None:
        # The checkpoint moves in the same transaction as the rows, and only from
        # the value this batch started at: a stale or duplicate projector fails
        # here and its whole batch rolls back.
        if self.partition is None:
            sql = ("UPDATE projections SET checkpoint = :new, updated_at = now() "
                   "WHERE id = :p AND checkpoint = :old")
            params = {"p": projection_id, "old": old, "new": new}
        else:
            sql = ("UPDATE projection_slices SET checkpoint = :new WHERE projection_id = :p "
                   "AND slice = :s AND checkpoint = :old")
            params = {"p": projection_id, "old": old, "new": new, "s": self.partition.index}
        if conn.execute(text(sql), params).rowcount != 1:
            raise StaleCheckpoint(f"checkpoint of projection {projection_id} moved")

    def run_batch(self, projection_id: int, policy: CompiledPolicy) -> BatchResult | None:
        """Project one batch; None when there was nothing to do."""
        with self.engine.begin() as conn:
            checkpoint, upto = self._checkpoint(conn, projection_id)
            if upto is not None and checkpoint >= upto:
                return None
            window = self._window(checkpoint, upto)
            # The fold needs envelopes and only the start of a text (for reset
            # triggers); not decoding whole tool outputs roughly halves the read.
            events = self.store.read(conn, checkpoint, self.batch_size, upto=window,
                                     partition=self.partition, text_chars=TRIGGER_TEXT_CHARS)
            if not events:
                if self.partition is None:
                    conn.execute(text("UPDATE projections SET caught_up_at = coalesce("
                                      "caught_up_at, now()) WHERE id = :id"),
                                 {"id": projection_id})
                    return None
                assert window is not None
                self._move_checkpoint(conn, projection_id, checkpoint, window)
                return BatchResult(0, window)
            self._hook("read", len(events))
            fold = Fold(projection_id, policy)
            fold.load(conn, events)
            fold.apply(events)
            fold.flush(conn)
            self._hook("written", len(events))
            new_checkpoint = events[-1].position
            if window is not None and len(events) < self.batch_size:
                new_checkpoint = window  # the slice has nothing more up to the window's end
            self._move_checkpoint(conn, projection_id, checkpoint, new_checkpoint)
            self._hook("checkpointed", len(events))
            return BatchResult(len(events), new_checkpoint, len(fold.new_members),
                               sum(1 for s in fold.sessions.values() if s.dirty))

    def _window(self, checkpoint: int, upto: int | None) -> int | None:
        """For a slice: read a bounded range of positions.

        A slice's filter is a hash the planner cannot estimate; bounding the
        position range keeps each read an index range scan instead of a scan
        and sort of everything after the checkpoint.
        """
        if self.partition is None:
            return upto
        assert upto is not None
        return min(upto, checkpoint + self.batch_size * self.partition.count)

    def _hook(self, point: str, count: int) -> None:
        if self.hook is not None:
            self.hook(point, count)
