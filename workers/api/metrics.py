"""Prometheus metrics: appends, rejects by code, request latency, projector lag, quarantine."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from projections.status import projection_lags

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ProjectionCollector(Collector):
    """Read at scrape time from the database, so every server process reports the same."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        events = GaugeMetricFamily("convlog_projection_lag_events",
                                   "events appended but not yet projected", labels=["projection"])
        seconds = GaugeMetricFamily("convlog_projection_lag_seconds",
                                    "age of the oldest event not yet projected",
                                    labels=["projection"])
        quarantined = GaugeMetricFamily("convlog_projection_quarantined_events",
                                        "events the projection could not fold",
                                        labels=["projection"])
        head = GaugeMetricFamily("convlog_log_head_position", "the log's highest position")
        with self.engine.connect() as conn:
            lags = projection_lags(conn)
        for lag in lags:
            events.add_metric([lag.name], lag.lag_events)
            seconds.add_metric([lag.name], lag.lag_seconds)
            quarantined.add_metric([lag.name], lag.quarantined)
        head.add_metric([], lags[0].head if lags else 0)
        yield from (events, seconds, quarantined, head)


class Metrics:
    """This process's counters; under `--workers N` they are merged across processes
    through PROMETHEUS_MULTIPROC_DIR (which `convlog serve` sets up)."""

    def __init__(self, engine: Engine) -> None:
        multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # In multiprocess mode the values live in files that the collector merges;
        # registering them as well would report this process's copy twice.
        self.registry = CollectorRegistry()
        own = None if multiprocess else self.registry
        if multiprocess:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.appended = Counter("convlog_events_appended_total",
                                "events appended through the API", registry=own)
        self.duplicates = Counter("convlog_events_duplicate_total",
                                  "retried events that were already in the log", registry=own)
        self.rejected = Counter("convlog_events_rejected_total", "events refused, by code",
                                ["code"], registry=own)
        self.turns = Counter("convlog_turns_total",
                             "turns answered: ahead of the fold, or once the fold passed them",
                             ["answered"], registry=own)
        self.latency = Histogram("convlog_http_request_duration_seconds",
                                 "request latency by route and status",
                                 ["method", "route", "status"], buckets=_BUCKETS, registry=own)
        self.registry.register(ProjectionCollector(engine))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
