"""The append: a batch of parsed events made rows, deduplicated and written under one lock.

The append contract, for every caller (ingest, the HTTP edge, importers, tests):

- `prepare` does the CPU half outside any transaction: ids, fingerprints, the rows.
- `append_locked` does the database half inside the caller's transaction, holding
  the log's append lock until that transaction ends, and answers per event: the
  position each event has in the log now (`AppendResult.positions`), which of them
  this call appended (`AppendResult.fresh`), and what it refused with a code.
- `admit`, when given, is the caller's own check of each event (fencing), run
  under the lock, in the same transaction, before anything is written.

Nothing outside `eventlog/` names the append lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, text

from eventlog.events import Event, Rejection
from eventlog.jsontext import canonical_json, writes_as_json
from eventlog.schema import APPEND_LOCK_KEY, EVENTS_CHANNEL, log_horizon

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

# The caller's check of one event, under the append lock: None admits it.
Admit = Callable[[Connection, "PreparedEvent"], Rejection | None]


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

    def binary_copy_row(self) -> tuple[Any, ...]:
        """The whole event as one `events` row for a binary COPY (COPY_TYPES): the shape
        of a log that kept content in the payload (the bench's raw-COPY reference)."""
        return self.events_row(_jsonb(self.payload_json))

    def binary_envelope_row(self) -> tuple[Any, ...]:
        """The `events` row, the payload without the erasable content, for a binary COPY
        (COPY_TYPES): jsonb as its wire bytes."""
        return self.events_row(_jsonb(self.envelope_json or self.payload_json))

    def binary_content_row(self, position: int) -> tuple[Any, ...]:
        """The `event_content` row for a binary COPY (CONTENT_TYPES)."""
        meta = self.meta_json
        return (position, self.event.text, self.event.sender_name,
                None if meta is None else _jsonb(meta))

    def events_row(self, payload: str | bytes) -> tuple[Any, ...]:
        e = self.event
        return (
            self.event_id, self.fingerprint, e.type, e.agent, e.platform, e.account, e.space,
            e.chat, e.chat_type, e.topic, e.sender, e.message_id, e.reply_to, e.occurred_at,
            payload,
        )


@dataclass
class AppendResult:
    """What an append did: totals, refusals, and per event id where it stands now."""

    appended: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    last_position: int | None = None
    # Every event id of the batch the log holds now -> its position. A re-delivery of
    # an erased message under another id maps to the erased event's position.
    positions: dict[str, int] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)  # the ids this append wrote

    def merge(self, other: AppendResult) -> None:
        self.appended += other.appended
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.positions.update(other.positions)
        self.fresh |= other.fresh
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


def dedupe_within_batch(batch: Sequence[PreparedEvent],
                        result: AppendResult) -> list[PreparedEvent]:
    """The batch's first event of each id; a repeat is a duplicate or an ID_CONFLICT."""
    first_by_id: dict[str, PreparedEvent] = {}
    for item in batch:
        seen = first_by_id.get(item.event_id)
        if seen is None:
            first_by_id[item.event_id] = item
        elif seen.fingerprint == item.fingerprint:
            result.duplicates += 1
        else:
            result.rejected.append(id_conflict(item))
    return list(first_by_id.values())


def append_locked(conn: Connection, batch: list[PreparedEvent], result: AppendResult,
                  admit: Admit | None = None) -> None:
    """Append `batch` (ids unique within it) in `conn`'s transaction, under the lock."""
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
    # takes the same lock for inserts that do not come through this function.
    hold_appends(conn)
    if admit is not None:
        batch = _admitted(conn, batch, result, admit)
        if not batch:
            return
    # The ids go as one JSON array: an array parameter is built element by
    # element in Python, which cost more than the query. A last row, of NULL id, says
    # in its third column whether some content was ever erased (1: a probe of a
    # partial index) and whether an erasure stands for a sender's later content (2);
    # only then are the batch's addresses looked up among erased events, and its new
    # events handed to the standing erasures.
    existing: dict[str | None, tuple[bytes, int]] = {
        event_id: (fingerprint, position) for event_id, fingerprint, position in conn.execute(
            _EXISTING, {"ids": _json_array([item.event_id for item in batch])})}
    flags = existing[None][1] if None in existing else 0
    anything_erased, watched = bool(flags & 1), bool(flags & 2)
    fresh = []
    for item in batch:
        stored = existing.get(item.event_id)
        if stored is None:
            fresh.append(item)
        elif bytes(stored[0]) == item.fingerprint:
            result.duplicates += 1
            result.positions[item.event_id] = stored[1]
        else:
            result.rejected.append(id_conflict(item))
    twins = _erased_twins(conn, fresh) if anything_erased else {}
    if twins:
        result.duplicates += len(twins)
        result.positions.update({fresh[i].event_id: position for i, position in twins.items()})
        fresh = [item for i, item in enumerate(fresh) if i not in twins]
    if not fresh:
        return
    positions = (_insert_few(conn, fresh) if len(fresh) <= FEW
                 else _copy_many(conn, fresh))
    redactions = [positions[item.event_id] for item in fresh
                  if item.event.type == "content.redacted"]
    if redactions:
        # A redaction erases the content of the message it names, at once.
        conn.execute(text("SELECT convlog_redact(:positions)"), {"positions": redactions})
    if watched:
        # What an erased sender writes after an erasure that said "and future".
        conn.execute(text("SELECT convlog_erase_arrivals(:positions)"),
                     {"positions": list(positions.values())})
    result.appended += len(fresh)
    result.positions.update(positions)
    result.fresh.update(positions)
    result.last_position = max(positions.values())
    if len(fresh) > FEW:  # a few events notified in their insert
        conn.execute(text("SELECT pg_notify(:channel, :position)"),
                     {"channel": EVENTS_CHANNEL, "position": str(result.last_position)})


# Up to this many new events are inserted by one statement that also writes their
# content and notifies (a turn's append is three statements: lock, probe, insert);
# more are COPYed, which costs two round trips more and wins on a large batch.
FEW = 8
_ROW = "(" + ", ".join(
    f"CAST(%(e{{i}}_{name})s AS jsonb)" if name == "payload" else f"%(e{{i}}_{name})s"
    for name in COPY_COLUMNS) + ")"
_CONTENT_ROW = ("(%(e{i}_event_id)s, %(e{i}_text)s, %(e{i}_sender_name)s, "
                "CAST(%(e{i}_meta)s AS jsonb))")


def _insert_few(conn: Connection, fresh: list[PreparedEvent]) -> dict[str, int]:
    """Insert `fresh` (at most FEW), their content and the notice in one statement."""
    params: dict[str, Any] = {"channel": EVENTS_CHANNEL}
    for i, item in enumerate(fresh):
        e = item.event
        row = item.events_row(item.envelope_json or item.payload_json)
        params.update({f"e{i}_{name}": value for name, value in zip(COPY_COLUMNS, row,
                                                                    strict=True)})
        params.update({f"e{i}_text": e.text, f"e{i}_sender_name": e.sender_name,
                       f"e{i}_meta": item.meta_json})
    rows = ", ".join(_ROW.format(i=i) for i in range(len(fresh)))
    contents = ", ".join(_CONTENT_ROW.format(i=i) for i in range(len(fresh)))
    sql = (f"WITH e AS (INSERT INTO events ({', '.join(COPY_COLUMNS)}) VALUES {rows} "
           "RETURNING position, event_id), "
           "c AS (INSERT INTO event_content (position, text, sender_name, meta) "
           f"SELECT e.position, v.text, v.sender_name, v.meta FROM e JOIN (VALUES {contents}) "
           "AS v(event_id, text, sender_name, meta) ON v.event_id = e.event_id) "
           "SELECT event_id, position, pg_notify(%(channel)s, "
           "(SELECT max(position) FROM e)::text) FROM e")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, params)
    return {event_id: position for event_id, position, _ in cursor.fetchall()}


def _copy_many(conn: Connection, fresh: list[PreparedEvent]) -> dict[str, int]:
    """COPY `fresh` and then their content (binary), and read their positions back."""
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
    return positions


_EXISTING = text(
    "SELECT event_id, fingerprint, position FROM events WHERE event_id = ANY("
    "ARRAY(SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))) "
    "UNION ALL SELECT NULL, NULL, erased::int + 2 * watched::int FROM ("
    "SELECT EXISTS (SELECT FROM event_content WHERE erased_by IS NOT NULL) AS erased, "
    "EXISTS (SELECT FROM erasure_watch) AS watched) AS f WHERE erased OR watched")


def hold_appends(conn: Connection) -> None:
    """Take the log's append lock until `conn`'s transaction ends: no append commits
    meanwhile (an activation's check-and-switch holds it so "caught up" stays true)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})


def _admitted(conn: Connection, batch: list[PreparedEvent], result: AppendResult,
              admit: Admit) -> list[PreparedEvent]:
    kept = []
    for item in batch:
        refusal = admit(conn, item)
        if refusal is None:
            kept.append(item)
        else:
            result.rejected.append(refusal)
    return kept


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


def id_conflict(item: PreparedEvent) -> Rejection:
    return Rejection(
        item.line,
        f"id: {item.event_id!r} is already used by a different event; a retried delivery "
        "must repeat the event exactly, and a new event needs its own id or message_id",
        item.payload_json,
        code="ID_CONFLICT",
    )
