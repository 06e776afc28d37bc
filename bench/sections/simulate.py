"""Simulate and export: two candidate policies vs one rebuild; Parquet vs COPY; export memory."""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.children import Children, child_store
from bench.harness import BATCH, ROOT, Bench, catch_up, ensure_main_projection, log, rate
from bench.sections.memory import memory_sizes
from projections.policy import load_policy
from projections.projector import Projector
from projections.simulate import Params, Window, compare
from projections.transcript import copy_statement
from workers.tools.exports.copying import write_parquet

CANDIDATES = ("guild-wide.json", "per-user-in-groups.json")


def measure(bench: Bench) -> dict[str, Any]:
    """Simulate two policies against the main projection (one read of the log), beside a
    rebuild of one policy;
    export that projection as Parquet, beside COPY (SELECT ...) TO of the same rows."""
    main, _, _ = ensure_main_projection(bench)
    figures: dict[str, Any] = {"simulate": _simulate(bench, main)}
    figures["export"] = _export(bench, main)
    figures["memory"] = _memory(bench, main)
    return figures


def _simulate(bench: Bench, main: str) -> dict[str, Any]:
    name = "bench_simulate_rebuild"
    bench.new_projection(name)
    rebuilt, rebuild_seconds = catch_up(bench, name)
    policies = [(path, load_policy(ROOT / "examples" / path)) for path in CANDIDATES]
    figures: dict[str, Any] = {"events": rebuilt.events, "rebuild_seconds": rebuild_seconds}
    started = time.perf_counter()
    comparison = compare(bench.engine, bench.store, policies, Window(0), Params(), against=main)
    seconds = time.perf_counter() - started
    log(f"  simulate, 2 policies + {main}: {seconds:.1f}s; one rebuild {rebuild_seconds:.1f}s")
    figures.update({
        "simulate_seconds": seconds,
        "ratio": seconds / rebuild_seconds if rebuild_seconds else None,
        "positions": comparison.window.upto, "turns": comparison.columns[0].turns,
        "leak_tokens": sum(c.privacy_leak_tokens for c in comparison.columns)})
    return figures


def _export(bench: Bench, main: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="convlog-bench-export-") as directory:
        path = Path(directory) / "messages.parquet"
        started = time.perf_counter()
        rows = write_parquet(bench.engine, main, path, lambda _n: None)
        parquet_seconds = time.perf_counter() - started
        size = path.stat().st_size
        copied = Path(directory) / "messages.csv"
        sql = copy_statement(main, header=False)  # the very rows the export reads
        started = time.perf_counter()
        with psycopg.connect(bench.conninfo) as conn, copied.open("wb") as out, \
                conn.cursor().copy(sql) as copy:
            for chunk in copy:
                out.write(chunk)
        copy_seconds = time.perf_counter() - started
    parquet_rate, copy_rate = rate(rows, parquet_seconds), rate(rows, copy_seconds)
    log(f"  export parquet: {rows:,} rows at {parquet_rate:,.0f} rows/s ({size / 2**20:.0f} "
        f"MiB); COPY TO: {copy_rate:,.0f} rows/s")
    return {"rows": rows, "parquet_seconds": parquet_seconds, "parquet_rows_per_s": parquet_rate,
            "parquet_bytes": size, "copy_seconds": copy_seconds, "copy_rows_per_s": copy_rate,
            "ratio": parquet_rate / copy_rate if copy_rate else None}


def _memory(bench: Bench, main: str) -> dict[str, Any]:
    """Peak RSS of a process exporting a projection of the first 100k (or N/10) events, and
    of one exporting all N."""
    small, _ = memory_sizes(bench.n)
    name = "bench_export_small"
    bench.new_projection(name)
    batch = min(BATCH, small)
    Projector(bench.engine, bench.store, name, batch_size=batch).catch_up(
        max_batches=math.ceil(small / batch))
    figures: dict[str, Any] = {}
    for label, projection in (("small", name), ("large", main)):
        reports, _ = Children([(_export_child, {"url": bench.url,
                                                "projection": projection})]).run()
        figures[label] = reports[0]
        log(f"  export of {reports[0]['rows']:,} rows: peak RSS "
            f"{reports[0]['peak_rss'] / 2**20:.0f} MiB")
    figures["ratio"] = figures["large"]["peak_rss"] / figures["small"]["peak_rss"]
    return figures


def _export_child(gate: Callable[[], None], url: str, projection: str) -> dict[str, Any]:
    import psutil

    engine, _ = child_store(url)
    me = psutil.Process()
    peak = [me.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], me.memory_info().rss)

    gate()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="convlog-bench-export-") as directory:
        rows = write_parquet(engine, projection, Path(directory) / "m.parquet",
                             lambda _n: None)
    stop.set()
    sampler.join()
    return {"rows": rows, "peak_rss": max(peak[0], me.memory_info().rss)}
