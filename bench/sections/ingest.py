"""Ingest: convlog's ingest_lines vs raw binary COPYs of the same prepared rows.

Ingest is parse, validate, COPY: no token is counted on the append path (workers
count afterwards, see the tokens section), so the reference rows carry no count
either. Three references: the envelope and its content as one row in a bare table
(with and without a unique event id), and the rows the append writes, binary-COPYed
into copies of `events` and `event_content` with their indexes (the issue's figure).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from bench import reference
from bench.harness import BATCH, Bench, Progress, log, rate
from eventlog.appending import PreparedEvent, prepare
from eventlog.events import Event, parse_line
from eventlog.ingest import ingest_lines


def measure(bench: Bench) -> dict[str, Any]:
    """convlog's ingest_lines vs a raw COPY of the same prepared rows into a bare table."""
    if bench.scalar("SELECT count(*) FROM events"):
        raise RuntimeError("the log is not empty; ingest must be the first section")
    copy = reference_copy(bench)
    log(f"  raw COPY: {copy['copy_events_per_s']:,.0f} events/s "
        f"(with unique event_id: {copy['copy_unique_events_per_s']:,.0f})")
    progress = Progress("ingest", bench.n)
    with bench.jsonl.open("rb") as stream:
        started = time.perf_counter()
        result = ingest_lines(bench.store, stream, batch_size=BATCH,
                              on_progress=lambda done, _: progress(done))
        seconds = time.perf_counter() - started
    bench.loaded = True
    convlog = rate(result.appended + result.duplicates, seconds)
    return {
        "events": bench.n, "seconds": seconds, "convlog_events_per_s": convlog,
        "appended": result.appended, "duplicates": result.duplicates,
        "rejected": result.rejected, **copy,
        "ratio": convlog / copy["copy_events_per_s"] if copy["copy_events_per_s"] else None,
        "ratio_unique": (convlog / copy["copy_unique_events_per_s"]
                         if copy["copy_unique_events_per_s"] else None),
        # The figure: the same rows binary-COPYed into both tables the append writes.
        "ratio_log": (convlog / copy["copy_log_events_per_s"]
                      if copy["copy_log_events_per_s"] else None),
        "mean_line_bytes": bench.jsonl.stat().st_size / max(bench.n, 1),
    }


def reference_copy(bench: Bench) -> dict[str, Any]:
    """Prepare rows chunk by chunk (untimed), COPY each into both bare tables (timed)."""
    reference.create_bare_table(bench.conninfo, reference.BARE_TABLE)
    reference.create_bare_table(bench.conninfo, reference.BARE_UNIQUE_TABLE,
                                unique_event_id=True)
    bare = reference.RawCopier(bench.conninfo, reference.BARE_TABLE)
    unique = reference.RawCopier(bench.conninfo, reference.BARE_UNIQUE_TABLE)
    log_copy = reference.LogCopier(bench.conninfo)
    prepare_seconds = 0.0
    progress = Progress("raw COPY", bench.n)
    position = 0
    try:
        for index, chunk in enumerate(bench.line_chunks(BATCH)):
            started = time.perf_counter()
            prepared = prepared_events(chunk)
            rows = [item.binary_copy_row() for item in prepared]
            envelopes = [(position + i, *item.binary_envelope_row())
                         for i, item in enumerate(prepared, 1)]
            contents = [item.binary_content_row(position + i)
                        for i, item in enumerate(prepared, 1)]
            position += len(prepared)
            prepare_seconds += time.perf_counter() - started
            copiers = [partial(bare.copy, rows), partial(unique.copy, rows),
                       partial(log_copy.copy, envelopes, contents)]
            shift = index % len(copiers)  # each goes first in turn
            for run_copy in copiers[shift:] + copiers[:shift]:
                run_copy()
            progress(bare.rows)
    finally:
        bare.close()
        unique.close()
        log_copy.close()
    return {"copy_events_per_s": bare.rate, "copy_seconds": bare.seconds,
            "copy_unique_events_per_s": unique.rate, "copy_unique_seconds": unique.seconds,
            "copy_log_events_per_s": log_copy.rate, "copy_log_seconds": log_copy.seconds,
            "prepare_events_per_s": rate(bare.rows, prepare_seconds)}


def prepared_events(chunk: Sequence[bytes]) -> list[PreparedEvent]:
    events = [e for e in (parse_line(raw, line=i) for i, raw in enumerate(chunk))
              if isinstance(e, Event)]
    return prepare(events)
