"""Eventsourcing: its PostgreSQL recorder, one event per transaction and batched, vs convlog."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import reference
from bench.children import Children
from bench.harness import BATCH, Bench, as_event, ensure_loaded, log, rate

# eventsourcing's batched insert pipelines one statement per event through psycopg; at
# 5,000 per call it stalled for good in 1 of 5 tries here, at 500 and 1,000 never, and
# its rate is the same at all three.
ES_BATCH = 1_000
SINGLE_AGENT = "onebench"


def measure(bench: Bench) -> dict[str, Any]:
    """eventsourcing's PostgreSQL recorder, one event per transaction and batched."""
    single_n, batched_n = min(2_000, bench.n), min(20_000, bench.n)
    try:
        import eventsourcing.postgres  # noqa: F401
    except ImportError as error:
        return {"status": "not available",
                "reason": f"{error}; pip install 'eventsourcing[postgres]' (the bench extra)"}
    figures: dict[str, Any] = {
        label: es_run(bench, label, count, batch)
        for label, count, batch in (("single", single_n, 1), ("batched", batched_n, ES_BATCH))}
    sample = [json.loads(raw) for chunk in bench.line_chunks(BATCH, limit=single_n)
              for raw in chunk]
    figures["convlog_single"] = convlog_single(bench, sample)
    convlog = bench.results.get("ingest", {}).get("convlog_events_per_s")
    batched = figures.get("batched", {}).get("events_per_s")
    single = figures.get("single", {}).get("events_per_s")
    figures["convlog_ingest_events_per_s"] = convlog
    figures["ratio_batched"] = convlog / batched if convlog and batched else None
    figures["ratio_single"] = (figures["convlog_single"]["events_per_s"] / single
                               if single else None)
    return figures


def es_run(bench: Bench, label: str, count: int, batch: int) -> dict[str, Any]:
    """One eventsourcing append run in a child process, killed if it stalls."""
    # A stalled psycopg pipeline never returns (the server waits in ClientRead).
    timeout = 30 + count / 200
    try:
        reports, _ = Children([(_es_child, {
            "conninfo": bench.conninfo, "path": str(bench.jsonl), "count": count,
            "batch": batch, "table": f"es_{label}"})]).run(timeout=timeout)
    except Exception as error:
        log(f"  eventsourcing {label}: FAILED {type(error).__name__}: {error}")
        return {"events": count, "batch": batch, "error": f"{type(error).__name__}: {error}"}
    log(f"  eventsourcing {label}: {reports[0]['events_per_s']:,.0f} events/s")
    return reports[0]


def convlog_single(bench: Bench, sample: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """convlog's own append, one event per call (and transaction), as the peer of es single."""
    ensure_loaded(bench)
    events = [as_event({**raw, "agent": SINGLE_AGENT}) for raw in sample]
    started = time.perf_counter()
    for event in events:
        bench.store.append([event])
    seconds = time.perf_counter() - started
    return {"events": len(events), "seconds": seconds, "events_per_s": rate(len(events), seconds)}


def _es_child(gate: Callable[[], None], conninfo: str, path: str, count: int, batch: int,
              table: str) -> dict[str, Any]:
    with open(path, "rb") as stream:
        sample = [(json.loads(raw), raw.rstrip(b"\n")) for _, raw in zip(range(count), stream,
                                                                         strict=False)]
    stored = reference.es_stored_events(sample)
    gate()
    result = reference.es_append(conninfo, table, stored, batch)
    return {"events": result.events, "batch": batch, "seconds": result.seconds,
            "events_per_s": result.rate}
