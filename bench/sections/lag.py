"""Lag: how far a projector trails the log while another process appends at a steady rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.children import Children, child_store
from bench.harness import (
    Bench,
    as_event,
    close_counter,
    ensure_main_projection,
    generate,
    percentile,
    rate,
)
from eventlog.appending import prepare
from projections.projector import Projector

LAG_AGENT = "lagbench"


@dataclass
class LagSampler:
    """Samples head - checkpoint and the age of the oldest unprojected event."""

    conninfo: str
    projection_id: int
    interval: float = 0.1
    events: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    QUERY = """
        SELECT h.head - p.checkpoint,
               coalesce(extract(epoch FROM clock_timestamp() - (
                   SELECT recorded_at FROM events WHERE position > p.checkpoint
                    ORDER BY position LIMIT 1)), 0)
          FROM projections p, (SELECT coalesce(max(position), 0) AS head FROM events) h
         WHERE p.id = %s
    """

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                row = conn.execute(self.QUERY, (self.projection_id,)).fetchone()
                if row is not None:
                    self.events.append(max(int(row[0]), 0))
                    self.seconds.append(float(row[1]))


def lag_rate(bench: Bench) -> int:
    """The append rate: as asked, else half the ingest ceiling this run measured."""
    if bench.args.lag_rate is not None:
        return int(bench.args.lag_rate)
    ceiling = bench.results.get("ingest", {}).get("convlog_events_per_s")
    return max(int(ceiling / 2), 1) if ceiling else 2_000


def measure(bench: Bench) -> dict[str, Any]:
    """Catch-up lag while another process appends at a steady rate."""
    name, _, _ = ensure_main_projection(bench)
    per_second, duration = lag_rate(bench), bench.args.lag_seconds
    total = per_second * duration
    children = Children([(_appender_child, {"url": bench.url, "total": total,
                                            "per_second": per_second,
                                            "seed": bench.args.seed + 1})])
    sampler = LagSampler(bench.conninfo, bench.projection_id(name))
    projector = Projector(bench.engine, bench.store, name)
    projected = 0
    try:
        children.start()
        sampler.start()
        children.release()
        while children.alive():
            step = projector.catch_up()
            projected += step.events
            if not step.events:
                time.sleep(0.02)
        reports, wall = children.results()
    finally:
        sampler.stop()
        children.terminate()
    drain_started = time.perf_counter()
    projected += projector.catch_up().events
    return {
        "rate_target": per_second, "seconds_target": duration,
        "rate_is_half_ingest": bench.args.lag_rate is None and "ingest" in bench.results,
        "appended": reports[0]["events"],
        "append_events_per_s": rate(reports[0]["events"], reports[0]["seconds"]),
        "late_ticks": reports[0]["late_ticks"], "projected": projected,
        "drain_seconds": time.perf_counter() - drain_started, "samples": len(sampler.events),
        "lag_events_p50": percentile(sampler.events, 50),
        "lag_events_p99": percentile(sampler.events, 99),
        "lag_events_max": max(sampler.events, default=0),
        "lag_seconds_p50": percentile(sampler.seconds, 50),
        "lag_seconds_p99": percentile(sampler.seconds, 99),
        "lag_seconds_max": max(sampler.seconds, default=0.0),
        "wall_seconds": wall,
    }


def _appender_child(gate: Callable[[], None], url: str, total: int, per_second: int,
                    seed: int) -> dict[str, Any]:
    _, store = child_store(url)
    # Parsed up front: the steady rate measures the projector, not this CPU.
    events = prepare([as_event({**raw, "agent": LAG_AGENT}) for raw in generate(total, seed)])
    close_counter(store.counter)
    tick = 0.1
    per_tick = max(1, round(per_second * tick))
    gate()
    started = time.time()
    late = 0
    for index, start in enumerate(range(0, total, per_tick)):
        delay = started + index * tick - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            late += 1
        store.append_prepared(events[start:start + per_tick])
    ended = time.time()
    return {"events": total, "seconds": ended - started, "late_ticks": late, "ended": ended}
