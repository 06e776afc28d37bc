"""One bench run's state: its server and database, the workload on disk, and shared helpers."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from eventlog.database import embedded_server_url, libpq_url, stop_embedded_server
from eventlog.events import Event, parse_event
from eventlog.ingest import ingest_lines
from eventlog.store import EventStore, chunked
from eventlog.tokens import TokenCounter, count_pending
from projections.policy import Policy
from projections.projector import CatchUpResult, Projector
from projections.registry import create, get

# The one place bench imports the workload generator from (the lag section's appender
# uses it through this module too).
from workers.tools.workload import generate as generate

BATCH = 5_000
ROOT = Path(__file__).resolve().parent.parent
MAIN_PROJECTION = "bench_main"
_STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr,
          flush=True)


def rate(events: float, seconds: float) -> float:
    return events / seconds if seconds > 0 else 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


# -- the server the bench database goes on ------------------------------------------------


@contextmanager
def bench_server(configured: str | None) -> Iterator[str]:
    """A URL to the server's maintenance database: given, configured, or embedded.

    Without a URL or CONVLOG_HOME the embedded server is a throwaway one under a temporary
    home, stopped and deleted when the block ends.
    """
    url = configured or os.environ.get("CONVLOG_DATABASE_URL")
    if url:
        yield url
        return
    home_env = os.environ.get("CONVLOG_HOME")
    home = Path(home_env) if home_env else Path(tempfile.mkdtemp(prefix="convlog-bench-"))
    log(f"no database URL: embedded PostgreSQL under {home}")
    if home_env:
        # The user's own home: its server keeps running for later commands, as convlog's do.
        yield embedded_server_url(home, database="postgres")
        return
    try:
        yield embedded_server_url(home, database="postgres", throwaway=True)
    finally:
        stop_embedded_server(home)
        shutil.rmtree(home, ignore_errors=True)


# -- shared state -------------------------------------------------------------------------


class Bench:
    """One run: its database, the generated workload on disk, and what sections left."""

    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        self.n: int = args.events
        self.url = url
        self.conninfo = libpq_url(url)
        self.database = str(make_url(url).database)
        self.engine: Engine = create_engine(self.url, pool_size=4, max_overflow=4)
        self.counter = TokenCounter()
        self.store = EventStore(self.engine, self.counter)
        self.workdir = Path(tempfile.mkdtemp(prefix="convlog-bench-data-"))
        self.results: dict[str, dict[str, Any]] = {}
        self.loaded = False
        self.counted = False
        self.main_projection: str | None = None
        self._jsonl: Path | None = None

    def close(self) -> None:
        close_counter(self.counter)
        self.engine.dispose()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def jsonl(self) -> Path:
        """generate(N, seed) as JSONL on disk, written once (untimed)."""
        if self._jsonl is None:
            path = self.workdir / "events.jsonl"
            started = time.perf_counter()
            with path.open("w", encoding="utf-8") as out:
                for event in generate(self.n, self.args.seed):
                    out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
                    out.write("\n")
            log(f"workload: {self.n:,} events, {path.stat().st_size / 2**20:.0f} MiB "
                f"generated in {time.perf_counter() - started:.1f}s")
            self._jsonl = path
        return self._jsonl

    def line_chunks(self, size: int, limit: int | None = None) -> Iterator[list[bytes]]:
        with self.jsonl.open("rb") as stream:
            lines: Iterable[bytes] = stream
            if limit is not None:
                lines = (line for _, line in zip(range(limit), stream, strict=False))
            yield from chunked(lines, size)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def projection_id(self, name: str) -> int:
        with self.engine.connect() as conn:
            return get(conn, name).id

    def new_projection(self, name: str) -> None:
        with self.engine.begin() as conn:
            create(conn, name, Policy())


class Progress:
    """Logs a line each time a count crosses another tenth of its total."""

    def __init__(self, what: str, total: int) -> None:
        self.what = what
        self.total = max(total, 1)
        self.step = max(self.total // 10, 1)
        self.next = self.step

    def __call__(self, done: int) -> None:
        if done >= self.next:
            log(f"  {self.what}: {done:,} / {self.total:,}")
            self.next = (done // self.step + 1) * self.step


def ensure_loaded(bench: Bench) -> None:
    """The workload in the log (through convlog's ingest), whether or not ingest was timed,
    and its tokens counted, as a deployment's workers count them before projectors fold."""
    if not bench.loaded:
        if not bench.scalar("SELECT count(*) FROM events"):
            log("loading the workload through convlog's ingest (untimed)")
            progress = Progress("ingest", bench.n)
            with bench.jsonl.open("rb") as stream:
                ingest_lines(bench.store, stream, batch_size=BATCH,
                             on_progress=lambda done, _: progress(done))
        bench.loaded = True
    if not bench.counted:
        log("counting tokens as the workers would (untimed)")
        count_pending(bench.engine, bench.store.counter.encoding_name)
        bench.counted = True


def catch_up(bench: Bench, name: str, **options: Any) -> tuple[CatchUpResult, float]:
    head = int(bench.scalar("SELECT coalesce(max(position), 0) FROM events"))
    with bench.engine.connect() as conn:
        start = get(conn, name).checkpoint
    progress = Progress(f"projection {name}, positions", head - start)
    projector = Projector(bench.engine, bench.store, name, **options)
    started = time.perf_counter()
    result = projector.catch_up(on_batch=lambda batch: progress(batch.checkpoint - start))
    return result, time.perf_counter() - started


def ensure_main_projection(bench: Bench) -> tuple[str, CatchUpResult, float]:
    """A default-policy projection caught up with the whole log."""
    ensure_loaded(bench)
    if bench.main_projection is None:
        bench.new_projection(MAIN_PROJECTION)
        bench.main_projection = MAIN_PROJECTION
    result, seconds = catch_up(bench, bench.main_projection)
    return bench.main_projection, result, seconds


def as_event(raw: dict[str, Any]) -> Event:
    parsed = parse_event(raw)
    if not isinstance(parsed, Event):
        raise ValueError(f"generated event refused: {parsed.reason}")
    return parsed


def close_counter(counter: TokenCounter) -> None:
    """Stop the counter's worker processes, where it has any."""
    close = getattr(counter, "close", None)
    if callable(close):
        close()
