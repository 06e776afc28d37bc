"""HTTP: batched POST /v1/events vs in-process append; 32 clients' turns vs in-process context.

The server is `convlog serve` in its own process (one uvicorn worker), on loopback; its
CPU and the database's are read from the kernel around each measured phase.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
import psycopg
from convlog_client import AsyncConvlogClient, ConvlogApiError

from bench import turn_reference
from bench.harness import Bench, generate, log, percentile, rate
from eventlog.access import create_token
from eventlog.ingest import ingest_lines
from projections.context import ContextAssembler
from projections.projector import Projector
from projections.registry import ensure_default, get

HTTP_BATCH = 1_000
MAX_BATCH_EVENTS = 50_000  # per side: the comparison needs many batches, not the whole N
CLIENTS = 32
TURN_SECONDS = 10.0
TURN_LIMIT = 50_000  # the load runs for TURN_SECONDS; this only bounds a runaway
SOLO_TURNS = 200  # one client, one turn at a time: the latency a turn adds, unqueued
SESSION_EVENTS = 200  # each client's session before the turns start
CONTEXT_CALLS = 20  # per session, for the in-process reference
STARTUP_SECONDS = 60.0


@dataclass
class Server:
    url: str
    process: psutil.Process

    def cpu(self) -> float:
        """CPU seconds of the server and its worker processes (which live as long as it)."""
        processes = [self.process, *self.process.children(recursive=True)]
        return float(sum(sum(p.cpu_times()[:2]) for p in processes))


def postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving `database` (the server is local).

    Only this database's backends: other work on a shared machine is not counted. The
    pools keep their backends alive through a phase, so none is lost as it exits.
    """
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        info = process.info
        if (info["name"] == "postgres" and info["cpu_times"]
                and any(database in part for part in info["cmdline"] or ())):
            total += info["cpu_times"].user + info["cpu_times"].system
    return total


@contextmanager
def api_server(bench: Bench) -> Iterator[Server]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli.main", "serve", "--port", str(port), "--workers",
         os.environ.get("BENCH_SERVE_WORKERS", str(os.cpu_count() or 1)), "--log-level",
         "warning"], env={**os.environ, "CONVLOG_DATABASE_URL": bench.url})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("convlog serve did not start")
            time.sleep(0.2)
        yield Server(url, psutil.Process(process.pid))
    finally:
        process.terminate()
        process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(bench: Bench) -> dict[str, Any]:
    """Batched appends over HTTP vs in process; concurrent turns vs the context call."""
    with bench.engine.begin() as conn:
        ensure_default(conn)
    token = create_token(bench.engine, "bench", ["*"], ["ingest", "read"])
    with api_server(bench) as server:
        batched = measure_batches(bench, server, token)
        log(f"  batched: HTTP {batched['http_events_per_s']:,.0f} events/s, in process "
            f"{batched['inprocess_events_per_s']:,.0f} (ratio {batched['ratio']:.2f})")
        turns = measure_turns(bench, server, token)
        reference = turns["reference"]
        log(f"  turns, 32 clients: {turns['turns_per_s']:,.0f}/s, p99 {turns['p99_ms']:.1f} ms "
            f"(least work: {reference['concurrent']['turns_per_s']:,.0f}/s, ratio "
            f"{turns['ratio_turns_per_s_vs_reference']:.2f}); one client p50 "
            f"{turns['solo_p50_ms']:.1f} ms (least work {reference['solo']['p50_ms']:.1f} ms, "
            f"ratio {turns['ratio_solo_p50_vs_reference']:.1f})")
    return {"batched": batched, "turns": turns, "ratio_batched": batched["ratio"],
            "ratio_turn_p99_vs_context_p99": turns["ratio_p99"]}


def _variant(prefix: str, count: int, seed: int) -> list[bytes]:
    """The workload with its agents renamed, so both sides append the same events anew."""
    lines = []
    for event in generate(count, seed):
        event = {**event, "agent": f"{prefix}{event['agent']}"}
        if "id" in event:
            event["id"] = f"{prefix}{event['id']}"
        lines.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
    return lines


def measure_batches(bench: Bench, server: Server, token: str) -> dict[str, Any]:
    count = min(bench.n, MAX_BATCH_EVENTS)
    seed = bench.args.seed
    local, remote = _variant("inproc-", count, seed), _variant("http-", count, seed)
    seconds = {"local": 0.0, "http": 0.0}
    cpu = {"server": 0.0, "db_local": 0.0, "db_http": 0.0}
    requests = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
        for start in range(0, count, HTTP_BATCH):
            # Alternate, so drift on a shared machine falls on both sides alike.
            chunk = local[start:start + HTTP_BATCH]
            db = postgres_cpu(bench.database)
            started = time.perf_counter()
            ingest_lines(bench.store, chunk, batch_size=HTTP_BATCH)
            seconds["local"] += time.perf_counter() - started
            cpu["db_local"] += postgres_cpu(bench.database) - db
            body = b"\n".join(remote[start:start + HTTP_BATCH])
            db, own = postgres_cpu(bench.database), server.cpu()
            started = time.perf_counter()
            answer = client.post("/v1/events", content=body)
            seconds["http"] += time.perf_counter() - started
            cpu["server"] += server.cpu() - own
            cpu["db_http"] += postgres_cpu(bench.database) - db
            answer.raise_for_status()
            requests += 1
    local_rate, http_rate = rate(count, seconds["local"]), rate(count, seconds["http"])
    return {"events": count, "batch": HTTP_BATCH, "requests": requests,
            "http_events_per_s": http_rate, "inprocess_events_per_s": local_rate,
            "ratio": http_rate / local_rate if local_rate else None,
            "server_cpu_ms_per_request": cpu["server"] / max(requests, 1) * 1e3,
            "server_cpu_us_per_event": cpu["server"] / count * 1e6,
            "db_cpu_us_per_event_http": cpu["db_http"] / count * 1e6,
            "db_cpu_us_per_event_inprocess": cpu["db_local"] / count * 1e6}


def _turn_event(client: int, n: int, at: datetime) -> dict[str, Any]:
    return {"type": "message.received", "agent": "turnbench", "platform": "discord",
            "space": "bench", "chat": f"turn-{client}", "chat_type": "group",
            "sender": f"u{client}", "sender_name": f"user {client}", "message_id": f"m{n}",
            "occurred_at": (at + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
            "text": f"question {n} from client {client}: did the nightly export finish?"}


def _prepare_sessions(bench: Bench) -> datetime:
    base = datetime(2026, 2, 1, tzinfo=UTC)
    for client in range(CLIENTS):
        lines = (json.dumps(_turn_event(client, n, base)).encode()
                 for n in range(SESSION_EVENTS))
        ingest_lines(bench.store, lines, batch_size=HTTP_BATCH)
    # Caught up before the turns start: by this process, or by the server's folder (which
    # may be folding the batched section's events and hold the projector meanwhile).
    while (Projector(bench.engine, bench.store).catch_up().skipped
           or Projector(bench.engine, bench.store).info().checkpoint < bench.store.horizon()):
        time.sleep(0.2)
    # Vacuumed and analysed: autovacuum would otherwise start on the tables the batched
    # section filled, in the middle of the measured turns, on a machine of two cores.
    with psycopg.connect(bench.conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return base


async def _load(url: str, token: str, base: datetime, budget: int, *, clients: int,
                limit: int, first: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + TURN_SECONDS
    sent = [0]

    async def client_loop(client: int) -> None:
        nonlocal errors
        async with AsyncConvlogClient(url, token, retries=0, timeout=60) as api:
            n = first
            while time.monotonic() < deadline and sent[0] < limit:
                sent[0] += 1
                started = time.perf_counter()
                try:
                    await api.turn(_turn_event(client, n, base), budget=budget)
                    latencies.append(time.perf_counter() - started)
                except ConvlogApiError:
                    errors += 1
                n += 1

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(client) for client in range(clients)))
    return latencies, errors, time.perf_counter() - started


def _turns_answered(server: Server) -> dict[str, float]:
    """The server's `convlog_turns_total` by how each turn was answered (ahead, after_fold)."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("convlog_turns_total{"):
            label, value = line.split("}", 1)
            found[label.split('"')[1]] = float(value)
    return found


def measure_turns(bench: Bench, server: Server, token: str) -> dict[str, Any]:
    base = _prepare_sessions(bench)
    answered = _turns_answered(server)
    budget = bench.args.context_budget
    own = psutil.Process()
    server_cpu, db_cpu = server.cpu(), postgres_cpu(bench.database)
    client_cpu = sum(own.cpu_times()[:2])
    latencies, errors, seconds = asyncio.run(_load(
        server.url, token, base, budget, clients=CLIENTS, limit=TURN_LIMIT,
        first=SESSION_EVENTS))
    server_cpu = server.cpu() - server_cpu
    db_cpu = postgres_cpu(bench.database) - db_cpu
    client_cpu = sum(own.cpu_times()[:2]) - client_cpu
    answered = {how: count - answered.get(how, 0.0)
                for how, count in _turns_answered(server).items()}
    solo, _, _ = asyncio.run(_load(server.url, token, base, budget, clients=1,
                                   limit=SOLO_TURNS, first=SESSION_EVENTS + TURN_LIMIT))
    context = _context_reference(bench, budget)
    reference = _least_work(bench, base)
    turns = len(latencies)
    p99 = percentile(latencies, 99) * 1e3
    context_p99 = percentile(context, 99) * 1e3
    return {"clients": CLIENTS, "seconds": seconds, "turns": turns, "errors": errors,
            "session_events_before": SESSION_EVENTS, "budget": budget,
            "turns_per_s": rate(turns, seconds),
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": p99,
            "context_p50_ms": percentile(context, 50) * 1e3, "context_p99_ms": context_p99,
            "ratio_p99": p99 / context_p99 if context_p99 else None,
            "solo_turns": len(solo), "solo_p50_ms": percentile(solo, 50) * 1e3,
            "solo_p99_ms": percentile(solo, 99) * 1e3,
            "ratio_solo_p99": percentile(solo, 99) * 1e3 / context_p99 if context_p99 else None,
            "reference": reference,
            "ratio_solo_p50_vs_reference": (percentile(solo, 50) * 1e3
                                            / reference["solo"]["p50_ms"]),
            "ratio_turns_per_s_vs_reference": (rate(turns, seconds)
                                               / reference["concurrent"]["turns_per_s"]),
            "server_cpu_ms_per_turn": server_cpu / max(turns, 1) * 1e3,
            "db_cpu_ms_per_turn": db_cpu / max(turns, 1) * 1e3,
            "client_cpu_ms_per_turn": client_cpu / max(turns, 1) * 1e3,
            "cpu_cores": psutil.cpu_count(),
            "answered_ahead_share": (answered.get("ahead", 0.0) / sum(answered.values())
                                     if sum(answered.values()) else None)}


def _least_work(bench: Bench, base: datetime) -> dict[str, Any]:
    """The same two loads against the least work PostgreSQL needs (bench.turn_reference)."""
    turn_reference.prepare(bench.conninfo, CLIENTS, SESSION_EVENTS, base)
    db_cpu = lambda: postgres_cpu(bench.database)  # noqa: E731
    solo = turn_reference.run(bench.conninfo, base, clients=1, seconds=TURN_SECONDS,
                              limit=SOLO_TURNS, first=SESSION_EVENTS, db_cpu=db_cpu)
    concurrent = turn_reference.run(bench.conninfo, base, clients=CLIENTS,
                                    seconds=TURN_SECONDS, limit=TURN_LIMIT,
                                    first=SESSION_EVENTS + SOLO_TURNS, db_cpu=db_cpu)
    return {"solo": solo, "concurrent": concurrent}


def _context_reference(bench: Bench, budget: int) -> list[float]:
    """The in-process context call on the same sessions, at the sizes the turns left."""
    assembler = ContextAssembler(bench.counter)
    samples: list[float] = []
    with bench.engine.connect() as conn:
        info = get(conn, None)
        sessions = [row[0] for row in conn.exec_driver_sql(
            "SELECT session_id FROM sessions WHERE projection_id = %(p)s "
            "AND agent = 'turnbench'", {"p": info.id})]
        for call in range(CONTEXT_CALLS + 2):
            for session_id in sessions:
                started = time.perf_counter()
                assembler.assemble(conn, info.id, session_id, budget=budget)
                elapsed = time.perf_counter() - started
                conn.rollback()
                if call >= 2:  # the first calls warm caches and plans
                    samples.append(elapsed)
    return samples
