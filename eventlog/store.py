"""The event log's public face: append (see `eventlog.appending`) and gap-safe reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.address import Address
from eventlog.append_alone import append_alone, can_append_alone
from eventlog.appending import (
    Admit,
    AppendResult,
    PreparedEvent,
    append_locked,
    dedupe_within_batch,
    prepare,
)
from eventlog.errors import DatabaseError
from eventlog.events import Event
from eventlog.partition import Partition
from eventlog.schema import log_horizon
from eventlog.tokens import TokenCounter, ensure_counted

READ_COLUMNS = (
    "position", "event_id", "type", "agent", "platform", "account", "space", "chat",
    "chat_type", "topic", "sender", "message_id", "reply_to", "occurred_at", "recorded_at",
    "tokens", "payload",
)
# `tokens` is the event's count in the reader's encoding, from token_counts.
_ENVELOPE = ", ".join("t.tokens" if name == "tokens" else f"e.{name}"
                      for name in READ_COLUMNS if name != "payload")
_TOKENS_AT = READ_COLUMNS.index("tokens")
_ADDRESS_END = READ_COLUMNS.index("message_id")
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
# A range of the log: the range bounds each joined table too, or the planner's merge join
# scans it from the log's start (`eventlog.envelopes` says more).
_RANGE_FROM = ("FROM events e LEFT JOIN event_content c ON c.position = e.position "
               "AND c.position > :after AND c.position <= :upto "
               "LEFT JOIN token_counts t ON t.encoding = :encoding AND t.position = e.position "
               "AND t.position > :after AND t.position <= :upto")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it: its position, envelope columns and payload."""

    position: int
    event_id: str
    type: str
    address: Address
    message_id: str | None
    reply_to: str | None
    occurred_at: datetime
    recorded_at: datetime
    tokens: int  # in the encoding the reader asked for
    payload: dict[str, Any]
    erased: bool = False

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredEvent:
        """A row of READ_COLUMNS (and the erased flag), its address columns as one value."""
        return cls(row[0], row[1], row[2], Address(*row[3:_ADDRESS_END]), *row[_ADDRESS_END:])

    @property
    def text(self) -> str | None:
        value = self.payload.get("text")
        return value if isinstance(value, str) else None


class EventStore:
    """The log's public face: batch append and gap-safe reads.

    `counter` names the default encoding of reads (its `encoding_name`) and
    counts what a read finds uncounted; appends never count.
    """

    def __init__(self, engine: Engine, counter: TokenCounter | None = None) -> None:
        self.engine = engine
        self.counter = counter or TokenCounter()
        self._alone_allowed = True  # this role may call convlog_append_new

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

    def append_prepared(self, batch: Sequence[PreparedEvent], conn: Connection | None = None,
                        admit: Admit | None = None) -> AppendResult:
        """Append one batch atomically: all new events of it, or nothing.

        With `conn`, the append joins the caller's transaction (and holds the
        append lock until the caller commits); otherwise it commits its own.
        `admit` checks each event under the lock (see `eventlog.appending`).
        """
        result = AppendResult()
        unique = dedupe_within_batch(batch, result)
        if not unique:
            return result
        try:
            if conn is not None:
                append_locked(conn, unique, result, admit)
                return result
            if admit is None and can_append_alone(unique) and self._alone_allowed:
                try:
                    with self.engine.connect().execution_options(
                            isolation_level="AUTOCOMMIT") as alone:
                        if append_alone(alone, unique, result):
                            return result
                except DBAPIError as error:
                    if not isinstance(error.orig, InsufficientPrivilege):
                        raise
                    # A role that may append but not call the one-call append (nothing
                    # was written): the full path, from now on.
                    self._alone_allowed = False
            with self.engine.begin() as own:
                append_locked(own, unique, result, admit)
        except DBAPIError as error:
            raise DatabaseError(f"append failed: {error.orig}; nothing of this batch was "
                                "written, so it can be retried as it is") from error
        return result

    # -- reading ------------------------------------------------------------------

    @staticmethod
    def find(conn: Connection, event_id: str) -> tuple[int, str] | None:
        """The position and type of the event with this id, if the log holds one."""
        row = conn.execute(text("SELECT position, type FROM events WHERE event_id = :id"),
                           {"id": event_id}).first()
        return None if row is None else (int(row.position), str(row.type))

    @staticmethod
    def occurred_at(conn: Connection, position: int) -> datetime | None:
        """When the event at `position` happened on its platform."""
        value = conn.execute(text("SELECT occurred_at FROM events WHERE position = :p"),
                             {"p": position}).scalar()
        return value if isinstance(value, datetime) else None

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
        query = text(f"SELECT {_ENVELOPE}, {payload}, c.erased_by IS NOT NULL {_RANGE_FROM} "
                     f"WHERE e.position > :after AND e.position <= :upto {where}"
                     "ORDER BY e.position LIMIT :limit")
        values = {"after": after, "upto": bound, "limit": limit, **params}
        rows = conn.execute(query, values).all()  # one fetch, not fetchone() per row
        if any(row[_TOKENS_AT] is None for row in rows):
            ensure_counted(conn, encoding, rows[-1][0], counter)
            rows = conn.execute(query, values).all()
        return [StoredEvent.from_row(row) for row in rows]

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
        return [StoredEvent.from_row(row) for row in reversed(rows)]

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


