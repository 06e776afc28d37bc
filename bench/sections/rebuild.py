"""Rebuild: a full re-projection under the default policy vs one window-function statement."""

from __future__ import annotations

from typing import Any

from bench import reference
from bench.harness import Bench, catch_up, ensure_loaded, log, rate


def measure(bench: Bench) -> dict[str, Any]:
    """A full re-projection under the default policy vs one window-function statement."""
    ensure_loaded(bench)
    window = reference.window_rebuild(bench.conninfo)
    log(f"  SQL window: {window.rate:,.0f} events/s ({window.sessions:,} keys)")
    name = "bench_rebuild"
    bench.new_projection(name)
    result, seconds = catch_up(bench, name)
    bench.main_projection = name
    projector = rate(result.events, seconds)
    pid = bench.projection_id(name)
    return {
        "events": result.events, "seconds": seconds, "projector_events_per_s": projector,
        "batches": result.batches,
        "sessions": bench.scalar("SELECT count(*) FROM sessions WHERE projection_id = :p",
                                 p=pid),
        "members": bench.scalar(
            "SELECT count(*) FROM session_members WHERE projection_id = :p", p=pid),
        "sql_events_per_s": window.rate, "sql_seconds": window.seconds,
        "sql_rows": window.rows, "sql_keys": window.sessions,
        "ratio": projector / window.rate if window.rate else None,
    }
