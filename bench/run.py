"""Benchmark harness: convlog's figures beside their raw references, same data, one run."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench.harness import ROOT, Bench, bench_server, log
from bench.scorecard import build_report, log_targets, write_outputs
from bench.sections import MEASUREMENTS, SECTIONS
from eventlog.database import scratch_database
from workers.migrate import upgrade
from workers.process import tune_process


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--events", type=int, required=True, help="workload size N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="a server to create the bench database on "
                        "(default: CONVLOG_DATABASE_URL, else the embedded server)")
    parser.add_argument("--out", help="JSON output (default bench/results/<date>-n<N>.json)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"),
                        help="the file the result table is appended to")
    parser.add_argument("--no-markdown", action="store_true", help="append no table")
    parser.add_argument("--lag-rate", type=int, default=None,
                        help="appends/s during lag (default: half the ingest rate measured "
                        "in this run, else 2,000)")
    parser.add_argument("--lag-seconds", type=int, default=10)
    parser.add_argument("--context-calls", type=int, default=1000,
                        help="calls per session size (p99 is the 10th slowest of 1,000)")
    parser.add_argument("--replica-calls", type=int, default=3000,
                        help="calls per session size and side in the replica section: its "
                        "figure is a ratio of two p99s, each the 30th slowest of 3,000")
    parser.add_argument("--context-budget", type=int, default=8_000)
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    args.sections = selected_sections(parser, args.only)
    return args


def selected_sections(parser: argparse.ArgumentParser, only: str | None) -> list[str]:
    if not only:
        return list(SECTIONS)
    chosen = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(SECTIONS)}")
    return chosen


def run_sections(bench: Bench, selected: Sequence[str]) -> None:
    """Each section in the fixed order; a failure is recorded and the next one runs."""
    for name in SECTIONS:
        if name not in selected:
            continue
        log(f"{name}: start")
        started = time.perf_counter()
        figures: dict[str, Any]
        try:
            figures = MEASUREMENTS[name](bench)
            figures.setdefault("status", "ok")
        except Exception as error:
            figures = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                       "traceback": traceback.format_exc(limit=8)}
            log(f"{name}: FAILED {figures['error']}")
        figures["section_seconds"] = time.perf_counter() - started
        bench.results[name] = figures
        log(f"{name}: {figures['status']} in {figures['section_seconds']:.1f}s")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    tune_process()  # as `convlog` does for its own process
    started_at = datetime.now(UTC)
    # The bench makes its own uniquely named database and drops it; it touches no other.
    with bench_server(args.database_url) as admin, \
            scratch_database(admin, "convlog_bench") as url:
        bench = Bench(args, url)
        log(f"database {bench.database}; sections {','.join(args.sections)}; "
            f"N={args.events:,}")
        try:
            upgrade(bench.engine)
            run_sections(bench, args.sections)
            report = build_report(bench, started_at, argv)
        finally:
            bench.close()
    log(f"dropped {bench.database}")
    write_outputs(report, args)
    log_targets(report)
    return 1 if any(r.get("status") == "failed" for r in bench.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
