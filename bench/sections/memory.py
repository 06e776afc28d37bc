"""Memory: peak RSS of a projector process rebuilding the first 100k (or N/10) and N events."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.children import Children, child_store
from bench.harness import BATCH, Bench, ensure_loaded, log
from projections.projector import Projector


def memory_sizes(n: int) -> tuple[int, int]:
    """100k and N at full scale; N/10 and N below 1M events."""
    return min(100_000, max(n // 10, 1)), n


def measure(bench: Bench) -> dict[str, Any]:
    """Peak RSS of a projector process rebuilding the first 100k (or N/10) and N events."""
    ensure_loaded(bench)
    small, large = memory_sizes(bench.n)
    batch = min(BATCH, small)
    figures: dict[str, Any] = {"batch_size": batch}
    for label, size in (("small", small), ("large", large)):
        name = f"bench_memory_{label}"
        bench.new_projection(name)
        reports, _ = Children([(_memory_child, {
            "url": bench.url, "name": name, "batch_size": batch,
            "max_batches": math.ceil(size / batch)})]).run()
        report = reports[0]
        figures[label] = {**report, "size": size}
        log(f"  {report['events']:,} events: peak RSS {report['peak_rss'] / 2**20:.0f} MiB "
            f"(baseline {report['baseline_rss'] / 2**20:.0f} MiB)")
    figures["ratio"] = figures["large"]["peak_rss"] / figures["small"]["peak_rss"]
    growth_small = figures["small"]["peak_rss"] - figures["small"]["baseline_rss"]
    growth_large = figures["large"]["peak_rss"] - figures["large"]["baseline_rss"]
    figures["growth_ratio"] = growth_large / growth_small if growth_small > 0 else None
    return figures


def _memory_child(gate: Callable[[], None], url: str, name: str, batch_size: int,
                  max_batches: int) -> dict[str, Any]:
    import resource

    import psutil

    engine, store = child_store(url)
    projector = Projector(engine, store, name, batch_size=batch_size)
    me = psutil.Process()
    baseline = me.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], me.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    gate()
    sampler.start()
    started = time.perf_counter()
    result = projector.catch_up(max_batches=max_batches)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    peak[0] = max(peak[0], me.memory_info().rss)
    return {"events": result.events, "seconds": seconds, "baseline_rss": baseline,
            "peak_rss": peak[0],
            "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
