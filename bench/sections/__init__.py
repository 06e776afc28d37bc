"""The bench's sections, one module each, in the order a run measures them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.harness import Bench
from bench.sections import (
    context,
    eventsourcing,
    http,
    ingest,
    lag,
    memory,
    rebuild,
    replica,
    resolver,
    search,
    simulate,
    tokens,
    workers,
)

Measure = Callable[[Bench], dict[str, Any]]

# The fixed run order: ingest fills the empty log, later sections reuse what earlier ones left.
MEASUREMENTS: dict[str, Measure] = {
    "ingest": ingest.measure, "tokens": tokens.measure, "rebuild": rebuild.measure,
    "workers": workers.measure,
    "memory": memory.measure, "resolver": resolver.measure,
    "eventsourcing": eventsourcing.measure, "lag": lag.measure, "context": context.measure,
    "replica": replica.measure,
    "http": http.measure, "search": search.measure,
    "simulate": simulate.measure,
}
SECTIONS = tuple(MEASUREMENTS)
