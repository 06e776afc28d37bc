"""Workers: a rebuild with 1 and 2 worker processes (projections.parallel)."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Bench, ensure_loaded, log, rate
from projections.parallel import rebuild_parallel


def measure(bench: Bench) -> dict[str, Any]:
    """Rebuild with 1 and 2 worker processes (projections.parallel), wall time incl. spawn."""
    ensure_loaded(bench)
    figures: dict[str, Any] = {}
    for count in (1, 2):
        name = f"bench_workers_{count}"
        bench.new_projection(name)
        started = time.perf_counter()
        result = rebuild_parallel(bench.engine, bench.store, name, count)
        wall = time.perf_counter() - started
        figures[f"workers_{count}_events_per_s"] = rate(result.events, wall)
        figures[f"workers_{count}_events"] = result.events
        log(f"  {count} worker(s): {rate(result.events, wall):,.0f} events/s")
    one, two = figures["workers_1_events_per_s"], figures["workers_2_events_per_s"]
    figures["speedup"] = two / one if one else None
    return figures
