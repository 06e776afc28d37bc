"""The least work PostgreSQL needs for a turn's answer, as the turns benchmark's reference.

Per turn, one psycopg transaction INSERTs the message into a plain table indexed on
(chat, position) and SELECTs the chat's newest 200 messages; the answer is then
`json.dumps`ed. No HTTP, no log, no projection, no token budget: what is left when
everything convlog adds is taken away. The same two loads as convlog's turns run on
the same database in the same run: one client in turn, and 32 threads at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psutil
import psycopg

from bench.harness import percentile, rate

TABLE = "bench_turn_reference"
NEWEST = 200


def prepare(conninfo: str, chats: int, messages: int, base: datetime) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (position bigint GENERATED ALWAYS AS IDENTITY, "
                     "chat text NOT NULL, sender text NOT NULL, occurred_at timestamptz "
                     "NOT NULL, text text NOT NULL)")
        conn.execute(f"CREATE INDEX ON {TABLE} (chat, position)")
        with conn.cursor().copy(f"COPY {TABLE} (chat, sender, occurred_at, text) FROM STDIN"
                                ) as copy:
            for chat in range(chats):
                for n in range(messages):
                    copy.write_row(_row(chat, n, base))
        conn.execute(f"ANALYZE {TABLE}")


def _row(chat: int, n: int, base: datetime) -> tuple[str, str, datetime, str]:
    return (f"turn-{chat}", f"u{chat}", base + timedelta(seconds=n),
            f"question {n} from client {chat}: did the nightly export finish?")


def _turn(conn: psycopg.Connection[Any], chat: int, n: int, base: datetime) -> str:
    with conn.transaction():
        conn.execute(f"INSERT INTO {TABLE} (chat, sender, occurred_at, text) "
                     "VALUES (%s, %s, %s, %s)", _row(chat, n, base))
        rows = conn.execute(f"SELECT position, sender, occurred_at, text FROM {TABLE} "
                            "WHERE chat = %s ORDER BY position DESC LIMIT %s",
                            (f"turn-{chat}", NEWEST)).fetchall()
    return json.dumps({"messages": [
        {"role": "user", "content": text, "name": sender, "position": position,
         "occurred_at": at.isoformat()} for position, sender, at, text in reversed(rows)]})


def run(conninfo: str, base: datetime, *, clients: int, seconds: float, limit: int,
        first: int, db_cpu: Callable[[], float]) -> dict[str, Any]:
    """`clients` threads, each with its own connection, turning until `seconds` pass or
    `limit` turns were taken: turns/s, latency percentiles, CPU per turn."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    sent = [0]

    def client(conn: psycopg.Connection[Any], chat: int) -> None:
        n = first
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= limit:
                    return
                sent[0] += 1
            started = time.perf_counter()
            _turn(conn, chat, n, base)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
            n += 1

    # Connected first and closed after the CPU is read: a backend's CPU leaves with it.
    connections = [psycopg.connect(conninfo) for _ in range(clients)]
    own = psutil.Process()
    cpu, db = sum(own.cpu_times()[:2]), db_cpu()
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(conn, chat))
               for chat, conn in enumerate(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu, db = sum(own.cpu_times()[:2]) - cpu, db_cpu() - db
    for conn in connections:
        conn.close()
    turns = len(latencies)
    return {"clients": clients, "turns": turns, "seconds": elapsed,
            "turns_per_s": rate(turns, elapsed),
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
            "client_cpu_ms_per_turn": cpu / max(turns, 1) * 1e3,
            "db_cpu_ms_per_turn": db / max(turns, 1) * 1e3}
