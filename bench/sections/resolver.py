"""Resolver: the pure resolver over every generated event, one core, default policy."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Bench, rate
from eventlog.events import Event, parse_line
from projections.errors import ResolveError
from projections.policy import Policy
from projections.resolver import compile_policy


def measure(bench: Bench) -> dict[str, Any]:
    """The pure resolver over every generated event, one core, default policy."""
    compiled = compile_policy(Policy())
    seconds = 0.0
    resolved = unresolvable = 0
    for chunk in bench.line_chunks(10_000):
        events = [e for e in (parse_line(raw, line=0) for raw in chunk) if isinstance(e, Event)]
        started = time.perf_counter()
        for event in events:
            try:
                compiled.resolve(event)
            except ResolveError:
                unresolvable += 1
        seconds += time.perf_counter() - started
        resolved += len(events)
    return {"events": resolved, "unresolvable": unresolvable, "seconds": seconds,
            "events_per_s": rate(resolved, seconds)}
