"""Append to and read from the event log: idempotent, gap-safe, immutable."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.convlog_errors import DatabaseError
from eventlog.events import Event, Rejection, canonical_json, writes_as_json
from eventlog.partition import Partition
from eventlog.schema import APPEND_LOCK_KEY, EVENTS_CHANNEL, log_horizon
from eventlog.tokens import TokenCounter, ensure_counted

COPY_COLUMNS = (
    "event_id", "fingerprint", "type", "agent", "platform", "account", "space", "chat",
    "chat_type", "topic", "sender", "message_id", "reply_to", "occurred_at", "payload",
)  # no `tokens`: the append leaves it NULL; counts live in token_counts (eventlog.tokens)
CONTENT_COLUMNS = ("position", "text", "sender_name", "meta")
# The append COPYs in binary: the server takes each value as sent instead of parsing
# its text (a sixth faster, and half the client's work). A jsonb value travels as its
# version byte and its text, which the rows carry ready-made (as bytes, passed through).
COPY_TYPES = ("text", "bytea", *["text"] * 11, "timestamptz", "bytea")
CONTENT_TYPES = ("int8", "text", "text", "bytea")
# What a person may ask to erase: kept in event_content, never in events.payload.
CONTENT_FIELDS = ("text", "sender_name", "meta")
READ_COLUMNS = (
    "position", "event_id", "type", "agent", "platform", "account", "space", "chat",
    "chat_type", "topic", "sender", "message_id", "reply_to", "occurred_at", "recorded_at",
    "tokens", "payload",
)
# `tokens` is the event's count in the reader's encoding, from token_counts.
_ENVELOPE = ", ".join("t.tokens" if name == "tokens" else f"e.{name}"
                      for name in READ_COLUMNS if name != "payload")
_TOKENS_AT = READ_COLUMNS.index("tokens")
# The event as it was appended, minus whatever was erased since.
_FULL_PAYLOAD = (
    "CASE WHEN c.text IS NULL AND c.sender_name IS NULL AND c.meta IS NULL THEN e.payload "
    "ELSE e.payload || jsonb_strip_nulls(jsonb_build_object('text', c.text, "
    "'sender_name', c.sender_name)) || CASE WHEN c.meta IS NULL THEN '{}'::jsonb "
    "ELSE jsonb_build_object('meta', c.meta) END END"
)
# For the projector: the envelope and the first characters of the text (an erased
# text keeps only a leading bot command, which a policy may fold as a reset).
_CUT_PAYLOAD = (
    "CASE WHEN c.text IS NULL AND c.command IS NULL THEN e.payload "
    "ELSE e.payload || jsonb_build_object('text', left(coalesce(c.text, c.command), :chars)) "
    "END"
)
_FROM = ("FROM events e LEFT JOIN event_content c ON c.position = e.position "
         "LEFT JOIN token_counts t ON t.encoding = :encoding AND t.position = e.position")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it: its position, envelope columns and payload."""

    position: int
    event_id: str
    type: str
    agent: str
    platform: str
    account: str
    space: str | None
    chat: str | None
    chat_type: str | None
    topic: str | None
    sender: str | None
    message_id: str | None
    reply_to: str | None
    occurred_at: datetime
    recorded_at: datetime
    tokens: int  # in the encoding the reader asked for
    payload: dict[str, Any]
    erased: bool = False

    @property
    def text(self) -> str | None:
        value = self.payload.get("text")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event with everything computed that needs no database: id and digest.

    Tokens are not counted here: counting is off the append path (eventlog.tokens).

    `payload_json` is the whole event (what the fingerprint digests); `envelope_json`
    is the same without text, sender_name and meta, which go to `event_content`.
    """

    event: Event
    event_id: str
    fingerprint: bytes
    payload_json: str
    line: int = 0
    envelope_json: str = ""
    meta_json: str | None = None

    def copy_row(self) -> tuple[Any, ...]:
        """The whole event as one `events` row, as stored before content moved apart."""
        return self._row(self.payload_json)

    def envelope_row(self) -> tuple[Any, ...]:
        """The `events` row: the payload without the erasable content."""
        return self._row(self.envelope_json or self.payload_json)

    def content_row(self, position: int) -> tuple[Any, ...]:
        return (position, self.event.text, self.event.sender_name, self.meta_json)

    def binary_copy_row(self) -> tuple[Any, ...]:
        """`copy_row()` for a binary COPY (COPY_TYPES)."""
        return self._row(_jsonb(self.payload_json))

    def binary_envelope_row(self) -> tuple[Any, ...]:
        """`envelope_row()` for a binary COPY (COPY_TYPES): jsonb as its wire bytes."""
        return self._row(_jsonb(self.envelope_json or self.payload_json))

    def binary_content_row(self, position: int) -> tuple[Any, ...]:
        """`content_row()` for a binary COPY (CONTENT_TYPES)."""
        meta = self.meta_json
        return (position, self.event.text, self.event.sender_name,
                None if meta is None else _jsonb(meta))

    def _row(self, payload: str | bytes) -> tuple[Any, ...]:
        e = self.event
        return (
            self.event_id, self.fingerprint, e.type, e.agent, e.platform, e.account, e.space,
            e.chat, e.chat_type, e.topic, e.sender, e.message_id, e.reply_to, e.occurred_at,
            payload,
        )


@dataclass
class AppendResult:
    appended: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    last_position: int | None = None
    # A re-delivery of an erased message under another id: its id -> the erased one's position.
    erased_twins: dict[str, int] = field(default_factory=dict)

    def merge(self, other: AppendResult) -> None:
        self.appended += other.appended
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.erased_twins.update(other.erased_twins)
        if other.last_position is not None:
            self.last_position = other.last_position

    def summary(self) -> dict[str, int]:
        return {"appended": self.appended, "duplicates": self.duplicates,
                "rejected": len(self.rejected)}


def prepare(events: Sequence[Event], lines: Sequence[int] | None = None) -> list[PreparedEvent]:
    """Compute ids and digests: the CPU half of an append (no token counting).

    Each event is dumped once as a dict and serialized three times at most
    (whole, envelope, meta); its derived id reuses the whole one.
    """
    prepared = []
    for index, event in enumerate(events):
        # Only meta can hold a value orjson writes otherwise (the model types the
        # rest), and the envelope never holds meta: one look at meta settles all three.
        meta = event.meta
        plain = meta is None or writes_as_json(meta)
        whole = event.payload_view() if plain else event.as_payload()
        payload = canonical_json(whole, checked=plain)
        for name in CONTENT_FIELDS:  # what is left is the envelope
            whole.pop(name, None)
        prepared.append(PreparedEvent(
            event=event,
            event_id=event.identify(payload),
            fingerprint=hashlib.sha256(payload.encode("utf-8")).digest(),
            payload_json=payload,
            line=lines[index] if lines is not None else index + 1,
            envelope_json=canonical_json(whole, checked=True),
            meta_json=None if meta is None else canonical_json(meta, checked=plain),
        ))
    return prepared


def _jsonb(text: str) -> bytes:
    """A jsonb value as binary COPY sends it: format version 1, then the JSON text."""
    return b"\x01" + text.encode("utf-8")


def _json_array(texts: list[str]) -> str:
    """`texts` as one JSON array, for the database to unpack (jsonb_array_elements_text)."""
    try:
        return orjson.dumps(texts).decode("utf-8")
    except orjson.JSONEncodeError:  # a lone surrogate, which the database refuses anyway
        return json.dumps(texts)


def _positions(conn: Connection, before: int, fresh: list[PreparedEvent]) -> dict[str, int]:
    """The position each event of `fresh` was given, by its id, just after its COPY.

    Under the append lock nobody else inserts, so the positions above `before` are
    exactly this batch's, and COPY draws them row by row: when they are contiguous,
    the n-th row has the n-th, and one small query tells. Otherwise (a gap in the
    sequence) each is read back with its id.
    """
    # The newest len(fresh) positions: under the lock they are this batch's, and a
    # backward index scan reads just them on any log (an open-ended range above
    # `before` was planned as a scan of every row on a freshly loaded log).
    newest = "SELECT position, event_id FROM events ORDER BY position DESC LIMIT :n"
    low, high, count = conn.execute(text(
        f"SELECT min(position), max(position), count(*) FROM ({newest}) AS b"),
        {"n": len(fresh)}).one()
    if count == len(fresh) and high - low + 1 == count and low > before:
        return {item.event_id: low + index for index, item in enumerate(fresh)}
    return {event_id: position for position, event_id in conn.execute(
        text(newest), {"n": len(fresh)})}


# The erased events that are the same platform message as an event of the batch: same
# agent, platform, account, space, chat, topic, type and message_id (and time, for an
# edit) -- the parts a derived id digests -- whatever `id` either was sent with. The
# batch goes as one JSON array of arrays: [index, agent, platform, account, space,
# chat, topic, type, message_id, occurred_at of an edit].
_ERASED_TWINS = text("""
SELECT (k->>0)::integer, e.position
  FROM jsonb_array_elements(CAST(:keys AS jsonb)) AS k
  JOIN events e ON e.platform = k->>2 AND e.chat = k->>5 AND e.message_id = k->>8
   AND e.agent = k->>1 AND e.account = k->>3 AND e.type = k->>7
   AND e.space IS NOT DISTINCT FROM k->>4 AND e.topic IS NOT DISTINCT FROM k->>6
   AND (k->>9 IS NULL OR e.occurred_at = (k->>9)::timestamptz)
  JOIN event_content c ON c.position = e.position AND c.erased_by IS NOT NULL
""")


def _erased_twins(conn: Connection, fresh: list[PreparedEvent]) -> dict[int, int]:
    """Index in `fresh` -> position of an erased event that is the same platform message.

    Erasure is keyed by what a message is, not by the id it came with: a gateway that
    mints a new idempotency key per delivery (or sends one the first time and none the
    next) re-delivers an erased message under an id the log has not seen, and appending
    it would bring the erased content back (invariant 9). Only events with a platform
    message id can be recognized so; the others are the same event only by their id.
    """
    keys = [(index, e.agent, e.platform, e.account, e.space, e.chat, e.topic, e.type,
             e.message_id, e.occurred_at.isoformat() if e.type == "message.edited" else None)
            for index, item in enumerate(fresh)
            if (e := item.event).message_id is not None and e.chat is not None]
    if not keys:
        return {}
    return {int(i): int(position) for i, position in conn.execute(
        _ERASED_TWINS, {"keys": orjson.dumps(keys).decode("utf-8")})}


def _id_conflict(item: PreparedEvent) -> Rejection:
    return Rejection(
        item.line,
        f"id: {item.event_id!r} is already used by a different event; a retried delivery "
        "must repeat the event exactly, and a new event needs its own id or message_id",
        item.payload_json,
        code="ID_CONFLICT",
    )


class EventStore:
    """The log's public face: batch append and gap-safe reads.

    `counter` names the default encoding of reads (its `encoding_name`) and
    counts what a read finds uncounted; appends never count.
    """

    def __init__(self, engine: Engine, counter: TokenCounter | None = None) -> None:
        self.engine = engine
        self.counter = counter or TokenCounter()

    @property
    def encoding(self) -> str:
        """The encoding reads use when they name none."""
        return self.counter.encoding_name

    def _counter(self, encoding: str | None) -> tuple[str, TokenCounter]:
        if encoding is None or encoding == self.counter.encoding_name:
            return self.counter.encoding_name, self.counter
        return encoding, TokenCounter(encoding)

    def append(self, events: Sequence[Event], lines: Sequence[int] | None = None) -> AppendResult:
        return self.append_prepared(prepare(events, lines))

    def append_prepared(self, batch: Sequence[PreparedEvent],
                        conn: Connection | None = None) -> AppendResult:
        """Append one batch atomically: all new events of it, or nothing.

        With `conn`, the append joins the caller's transaction (and holds the
        append lock until the caller commits); otherwise it commits its own.
        """
        result = AppendResult()
        unique = self._dedupe_within_batch(batch, result)
        if not unique:
            return result
        try:
            if conn is not None:
                self._append_locked(conn, unique, result)
                return result
            with self.engine.begin() as own:
                self._append_locked(own, unique, result)
        except DBAPIError as error:
            raise DatabaseError(f"append failed: {error.orig}; nothing of this batch was "
                                "written, so it can be retried as it is") from error
        return result

    @staticmethod
    def _dedupe_within_batch(batch: Sequence[PreparedEvent],
                             result: AppendResult) -> list[PreparedEvent]:
        first_by_id: dict[str, PreparedEvent] = {}
        for item in batch:
            seen = first_by_id.get(item.event_id)
            if seen is None:
                first_by_id[item.event_id] = item
            elif seen.fingerprint == item.fingerprint:
                result.duplicates += 1
            else:
                result.rejected.append(_id_conflict(item))
        return list(first_by_id.values())

    def _append_locked(self, conn: Connection, batch: list[PreparedEvent],
                       result: AppendResult) -> None:
        # Why appends are serialized: positions come from a sequence, which hands
        # out numbers when rows are inserted, not when transactions commit. Two
        # concurrent appends can commit in the other order, and a reader that had
        # already passed position N+1 would never see a late commit of N. Holding
        # one transaction-scoped lock from before the positions are drawn until
        # the commit makes position order equal commit order, so every committed
        # position below the highest visible one is final: readers may read up to
        # max(position) and never skip. The lock covers only the database half of
        # an append (parsing happens before it; tokens are counted later, off the
        # append path, by eventlog.tokens), and a trigger
        # takes the same lock for inserts that do not come through this method.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
        # The ids go as one JSON array: an array parameter is built element by
        # element in Python, which cost more than the query. A last row of NULLs says
        # that some content was ever erased (a probe of a partial index), and only
        # then are the batch's addresses looked up among erased events.
        existing: dict[str | None, bytes] = dict(conn.execute(
            text("SELECT event_id, fingerprint FROM events WHERE event_id = ANY(ARRAY("
                 "SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))) "
                 "UNION ALL SELECT NULL, NULL "
                 "WHERE EXISTS (SELECT FROM event_content WHERE erased_by IS NOT NULL)"),
            {"ids": _json_array([item.event_id for item in batch])},
        ).all())
        anything_erased = None in existing
        fresh = []
        for item in batch:
            stored = existing.get(item.event_id)
            if stored is None:
                fresh.append(item)
            elif bytes(stored) == item.fingerprint:
                result.duplicates += 1
            else:
                result.rejected.append(_id_conflict(item))
        twins = _erased_twins(conn, fresh) if anything_erased else {}
        if twins:
            result.duplicates += len(twins)
            result.erased_twins.update({fresh[i].event_id: position
                                        for i, position in twins.items()})
            fresh = [item for i, item in enumerate(fresh) if i not in twins]
        if not fresh:
            return
        before = log_horizon(conn)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY events ({', '.join(COPY_COLUMNS)}) FROM STDIN "
                         "(FORMAT BINARY)") as copy:
            copy.set_types(COPY_TYPES)
            for item in fresh:
                copy.write_row(item.binary_envelope_row())
        positions = _positions(conn, before, fresh)
        with cursor.copy(f"COPY event_content ({', '.join(CONTENT_COLUMNS)}) FROM STDIN "
                         "(FORMAT BINARY)") as copy:
            copy.set_types(CONTENT_TYPES)
            for item in fresh:
                copy.write_row(item.binary_content_row(positions[item.event_id]))
        redactions = [positions[item.event_id] for item in fresh
                      if item.event.type == "content.redacted"]
        if redactions:
            # A redaction erases the content of the message it names, at once.
            conn.execute(text("SELECT convlog_redact(:positions)"), {"positions": redactions})
        result.appended += len(fresh)
        result.last_position = max(positions.values())
        conn.execute(text("SELECT pg_notify(:channel, :position)"),
                     {"channel": EVENTS_CHANNEL, "position": str(result.last_position)})

    # -- reading ------------------------------------------------------------------

    def horizon(self, conn: Connection | None = None) -> int:
        """The safe horizon (`log_horizon`), on `conn` or on a connection of its own."""
        if conn is not None:
            return log_horizon(conn)
        with self.engine.connect() as own:
            return log_horizon(own)

    def read(self, conn: Connection, after: int, limit: int,
             upto: int | None = None, partition: Partition | None = None,
             text_chars: int | None = None, encoding: str | None = None
             ) -> list[StoredEvent]:
        """Events with after < position <= upto (default: the horizon), in order.

        With `partition`, only the events whose hash of the partition's columns
        falls in its slice: readers in parallel each take one slice. With
        `text_chars`, payloads come without `meta` and `sender_name` and with
        `text` cut to that many characters, for readers that need the envelope,
        not the content. Erased content is absent either way.

        `tokens` are counts in `encoding` (default: the store's); events read
        before any counter reached them are counted here, in this transaction,
        so a reader never sees a missing count (callers that can, count first:
        eventlog.tokens.ensure_counted).
        """
        bound = self.horizon(conn) if upto is None else upto
        encoding, counter = self._counter(encoding)
        where, params = "", dict[str, Any](encoding=encoding)
        if partition is not None:
            where = f"AND {partition.filter_sql} "
        payload = _FULL_PAYLOAD
        if text_chars is not None:
            payload = _CUT_PAYLOAD
            params["chars"] = text_chars
        query = text(f"SELECT {_ENVELOPE}, {payload}, c.erased_by IS NOT NULL {_FROM} "
                     f"WHERE e.position > :after AND e.position <= :upto {where}"
                     "ORDER BY e.position LIMIT :limit")
        values = {"after": after, "upto": bound, "limit": limit, **params}
        rows = conn.execute(query, values).all()  # one fetch, not fetchone() per row
        if any(row[_TOKENS_AT] is None for row in rows):
            ensure_counted(conn, encoding, rows[-1][0], counter)
            rows = conn.execute(query, values).all()
        return [StoredEvent(*row) for row in rows]

    def iter_events(self, after: int = 0, batch_size: int = 5_000,
                    upto: int | None = None, encoding: str | None = None
                    ) -> Iterator[StoredEvent]:
        """Every event after `after`, in position order, batch by batch."""
        with self.engine.connect() as conn:
            bound = self.horizon(conn) if upto is None else upto
            position = after
            while True:
                batch = self.read(conn, position, batch_size, upto=bound, encoding=encoding)
                conn.commit()  # counts a read had to take are kept
                if not batch:
                    return
                yield from batch
                position = batch[-1].position

    def tail(self, n: int, encoding: str | None = None) -> list[StoredEvent]:
        """The newest `n` events, oldest first, with counts in `encoding`."""
        encoding, counter = self._counter(encoding)
        with self.engine.connect() as conn:
            rows = [list(row) for row in conn.execute(
                text(f"SELECT {_ENVELOPE}, {_FULL_PAYLOAD}, c.erased_by IS NOT NULL {_FROM} "
                     "ORDER BY e.position DESC LIMIT :n"), {"n": n, "encoding": encoding})]
        for row in rows:
            if row[_TOKENS_AT] is None:
                # Not counted yet. A gateway's role may read the log but not write
                # counts: count the text here, exactly as a counter will, unsaved.
                payload_text = row[_TOKENS_AT + 1].get("text")
                row[_TOKENS_AT] = counter.count(payload_text) if isinstance(
                    payload_text, str) else 0
        return [StoredEvent(*row) for row in reversed(rows)]

    def stats(self, encoding: str | None = None) -> dict[str, Any]:
        """Counts by type and platform, the head, and the log's tokens in `encoding`."""
        encoding, counter = self._counter(encoding)
        with self.engine.begin() as conn:  # counts taken here are kept
            head = self.horizon(conn)
            ensure_counted(conn, encoding, head, counter)
            totals = conn.execute(text(
                "SELECT count(*), coalesce(max(position), 0), (SELECT coalesce(sum(tokens), 0) "
                "FROM token_counts WHERE encoding = :e AND position <= :head), "
                "min(occurred_at), max(occurred_at) FROM events WHERE position <= :head"),
                {"e": encoding, "head": head}).one()
            by_type: dict[str, int] = dict(conn.execute(text(
                "SELECT type, count(*) FROM events GROUP BY type ORDER BY 2 DESC")).all())
            by_platform: dict[str, int] = dict(conn.execute(text(
                "SELECT platform, count(*) FROM events GROUP BY platform ORDER BY 2 DESC")
            ).all())
        return {
            "events": totals[0],
            "head": totals[1],
            "tokens": int(totals[2]),
            "encoding": encoding,
            "first_occurred_at": totals[3].isoformat() if totals[3] else None,
            "last_occurred_at": totals[4].isoformat() if totals[4] else None,
            "by_type": by_type,
            "by_platform": by_platform,
        }


def stored_as_json(event: StoredEvent) -> dict[str, Any]:
    """The event as appended (erased content left out, and then marked `erased`)."""
    shown = {"position": event.position, "event_id": event.event_id,
             "recorded_at": event.recorded_at.isoformat(), "tokens": event.tokens,
             **event.payload}
    if event.erased:
        shown["erased"] = True
    return shown


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


