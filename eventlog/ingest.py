"""JSONL ingest: parse line by line, append in batches, stream every rejection as it occurs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import psycopg

from eventlog.appending import AppendResult, PreparedEvent, prepare
from eventlog.errors import DatabaseError
from eventlog.events import Event, Rejection, parse_line, parse_text, stripped_line
from eventlog.store import EventStore, chunked

# Rejections kept in memory for callers that want to look at some; every one of
# them goes to the sink as it occurs, so memory stays bounded whatever their number.
SAMPLE_SIZE = 100

# SQLSTATE classes that mean "this data", not "this connection" or "this server":
# data exception, integrity constraint violation, program limit exceeded (a row
# or value too large), and a trigger or function that raised on the row.
DATA_REFUSALS = ("22", "23", "54", "P0")

RejectionSink = Callable[[Rejection], None]


@dataclass
class IngestResult:
    """Counts of one ingest; the first rejections as a sample, all of them through the sink."""

    appended: int = 0
    duplicates: int = 0
    rejected: int = 0
    sample: list[Rejection] = field(default_factory=list)
    last_position: int | None = None

    def reject(self, rejection: Rejection, sink: RejectionSink | None) -> None:
        self.rejected += 1
        if len(self.sample) < SAMPLE_SIZE:
            self.sample.append(rejection)
        if sink is not None:
            sink(rejection)

    def summary(self) -> dict[str, int]:
        return {"appended": self.appended, "duplicates": self.duplicates,
                "rejected": self.rejected}


ProgressCallback = Callable[[int, IngestResult], None]


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    prepared: list[PreparedEvent]
    rejected: list[Rejection]
    lines_read: int
    raw: dict[int, str]  # the input line of each prepared event, for a database refusal


def parse_batch(store: EventStore, numbered: list[tuple[int, bytes]],
                max_text_chars: int) -> ParsedBatch:
    """Validate and identify one chunk of lines: no database needed (no token counting)."""
    events: list[Event] = []
    numbers: list[int] = []
    rejected: list[Rejection] = []
    raw: dict[int, str] = {}
    for number, line in numbered:
        try:
            stripped = stripped_line(line.decode("utf-8"), line=number)
        except UnicodeDecodeError:
            parsed = parse_line(line, line=number, max_text_chars=max_text_chars)
        else:
            text = stripped if isinstance(stripped, str) else stripped.raw
            parsed = stripped if isinstance(stripped, Rejection) else parse_text(
                stripped, line=number, max_text_chars=max_text_chars, from_utf8=True)
        if isinstance(parsed, Event):
            events.append(parsed)
            numbers.append(number)
            raw[number] = text
        elif isinstance(parsed, Rejection):
            rejected.append(parsed)
    return ParsedBatch(prepare(events, numbers), rejected, len(numbered), raw)


def ingest_lines(
    store: EventStore,
    lines: Iterable[bytes],
    *,
    batch_size: int = 5_000,
    max_text_chars: int = 200_000,
    on_progress: ProgressCallback | None = None,
    on_rejection: RejectionSink | None = None,
) -> IngestResult:
    """Append every valid line; each batch is one transaction, so a rerun is idempotent.

    Rejections reach `on_rejection` in line order as each batch is written, so a
    killed ingest leaves those found so far with the caller. The next chunk is
    parsed in a helper thread while the current one is written, so CPU work
    overlaps the database's (the server is another process). Tokens are not
    counted here: workers count them afterwards (eventlog.tokens).
    """
    total = IngestResult()
    lines_done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="convlog-prepare") as pool:
        pending: Future[ParsedBatch] | None = None
        for chunk in chunked(enumerate(lines, start=1), batch_size):
            following = pool.submit(parse_batch, store, chunk, max_text_chars)
            if pending is not None:
                lines_done = _write(store, pending.result(), total, lines_done,
                                    on_progress, on_rejection)
            pending = following
        if pending is not None:
            _write(store, pending.result(), total, lines_done, on_progress, on_rejection)
    if not (total.appended or total.duplicates or total.rejected):
        total.reject(Rejection(0, "input: empty; there is no event to append "
                               "(one JSON object per line expected)", "", code="EMPTY_INPUT"),
                     on_rejection)
    return total


def _write(store: EventStore, batch: ParsedBatch, total: IngestResult, lines_done: int,
           on_progress: ProgressCallback | None, on_rejection: RejectionSink | None) -> int:
    refused: list[Rejection] = []
    result = append_isolating(store, batch.prepared, batch.raw, refused)
    total.appended += result.appended
    total.duplicates += result.duplicates
    if result.last_position is not None:
        total.last_position = result.last_position
    for rejection in sorted([*batch.rejected, *result.rejected, *refused],
                            key=lambda rejection: rejection.line):
        total.reject(rejection, on_rejection)
    lines_done += batch.lines_read
    if on_progress is not None:
        on_progress(lines_done, total)
    return lines_done


def append_isolating(store: EventStore, batch: Sequence[PreparedEvent], raw: dict[int, str],
                     refused: list[Rejection]) -> AppendResult:
    """Append a batch; if the database refuses it for its data, halve it until the lines
    it refuses are alone, reject those with the database's reason, and land the rest.

    A refusal that is not about the data (a lost connection, a missing privilege)
    is raised: nothing of the batch is written, and retrying it is safe.
    """
    try:
        return store.append_prepared(batch)
    except (DatabaseError, psycopg.Error, UnicodeError) as error:
        reason = data_refusal(error)
        if reason is None:
            raise
    if len(batch) == 1:
        item = batch[0]
        refused.append(Rejection(item.line, f"database: refused it: {reason}",
                                 raw.get(item.line, item.payload_json), code="DATABASE_REFUSED"))
        return AppendResult()
    middle = len(batch) // 2
    result = append_isolating(store, batch[:middle], raw, refused)
    result.merge(append_isolating(store, batch[middle:], raw, refused))
    return result


def data_refusal(error: BaseException) -> str | None:
    """The database's reason when `error` is a refusal of the data itself, else None."""
    seen: BaseException | None = error
    while seen is not None:
        cause = getattr(seen, "orig", None)  # SQLAlchemy wraps the driver's error
        if isinstance(cause, BaseException):
            seen = cause
        if isinstance(seen, UnicodeError):
            return f"text cannot be encoded for the database ({seen})"
        if isinstance(seen, psycopg.Error):
            state = seen.sqlstate
            if state is None:  # raised by the driver before sending: only its data errors
                refused = isinstance(seen, psycopg.DataError)
            else:
                refused = state[:2] in DATA_REFUSALS
            if not refused:
                return None
            lines = str(seen).strip().splitlines() or [type(seen).__name__]
            message = seen.diag.message_primary or lines[0]
            return f"{message} (SQLSTATE {state})" if state else message
        seen = seen.__cause__
    return None


def ingest_stream(store: EventStore, stream: BinaryIO, *, batch_size: int = 5_000,
                  max_text_chars: int = 200_000, on_progress: ProgressCallback | None = None,
                  on_rejection: RejectionSink | None = None) -> IngestResult:
    return ingest_lines(store, iter(stream.readline, b""), batch_size=batch_size,
                        max_text_chars=max_text_chars, on_progress=on_progress,
                        on_rejection=on_rejection)
