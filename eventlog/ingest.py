"""JSONL ingest: parse line by line, append in batches, keep every rejection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from eventlog.events import Event, Rejection, parse_line
from eventlog.store import AppendResult, EventStore, PreparedEvent, chunked, prepare

ProgressCallback = Callable[[int, AppendResult], None]


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    prepared: list[PreparedEvent]
    rejected: list[Rejection]
    lines_read: int


def parse_batch(store: EventStore, numbered: list[tuple[int, bytes]],
                max_text_chars: int) -> ParsedBatch:
    """Validate, identify and count tokens of one chunk of lines: no database needed."""
    events: list[Event] = []
    numbers: list[int] = []
    rejected: list[Rejection] = []
    for number, raw in numbered:
        parsed = parse_line(raw, line=number, max_text_chars=max_text_chars)
        if isinstance(parsed, Event):
            events.append(parsed)
            numbers.append(number)
        elif isinstance(parsed, Rejection):
            rejected.append(parsed)
    return ParsedBatch(prepare(events, store.counter, numbers), rejected, len(numbered))


def ingest_lines(
    store: EventStore,
    lines: Iterable[bytes],
    *,
    batch_size: int = 5_000,
    max_text_chars: int = 200_000,
    on_progress: ProgressCallback | None = None,
) -> AppendResult:
    """Append every valid line; each batch is one transaction, so a rerun is idempotent.

    The next chunk is parsed and tokenized in a helper thread while the current
    one is written, so CPU work overlaps the database's (the server is another
    process and tiktoken releases the GIL).
    """
    total = AppendResult()
    lines_done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="convlog-prepare") as pool:
        pending: Future[ParsedBatch] | None = None
        for chunk in chunked(enumerate(lines, start=1), batch_size):
            following = pool.submit(parse_batch, store, chunk, max_text_chars)
            if pending is not None:
                lines_done = _write(store, pending.result(), total, lines_done, on_progress)
            pending = following
        if pending is not None:
            _write(store, pending.result(), total, lines_done, on_progress)
    if not (total.appended or total.duplicates or total.rejected):
        total.rejected.append(Rejection(0, "input: empty; there is no event to append "
                                        "(one JSON object per line expected)", "",
                                        code="EMPTY_INPUT"))
    total.rejected.sort(key=lambda rejection: rejection.line)
    return total


def _write(store: EventStore, batch: ParsedBatch, total: AppendResult, lines_done: int,
           on_progress: ProgressCallback | None) -> int:
    result = store.append_prepared(batch.prepared)
    result.rejected.extend(batch.rejected)
    total.merge(result)
    lines_done += batch.lines_read
    if on_progress is not None:
        on_progress(lines_done, total)
    return lines_done


def ingest_stream(store: EventStore, stream: BinaryIO, *, batch_size: int = 5_000,
                  max_text_chars: int = 200_000,
                  on_progress: ProgressCallback | None = None) -> AppendResult:
    return ingest_lines(store, iter(stream.readline, b""), batch_size=batch_size,
                        max_text_chars=max_text_chars, on_progress=on_progress)
