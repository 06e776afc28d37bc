"""Spawned child processes that set up, wait at a common start, and report one dict each."""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as StartSignal
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from eventlog.store import EventStore
from eventlog.tokens import TokenCounter

Report = dict[str, Any]
# A job runs in the child: it calls its first argument (the gate) once set up, then works.
Job = Callable[..., Report]


class Children:
    """Spawned processes that set up, wait at a common start, and report one dict each."""

    def __init__(self, jobs: Sequence[tuple[Job, dict[str, Any]]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.ready: Queue[int] = context.Queue()
        self.out: Queue[Report] = context.Queue()
        self.go: StartSignal = context.Event()
        self.processes = [
            context.Process(target=_child, args=(job, options, self.ready, self.go, self.out))
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

    def results(self, timeout: float = 7_200) -> tuple[list[Report], float]:
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

    def run(self, timeout: float = 7_200) -> tuple[list[Report], float]:
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


def _child(job: Job, options: dict[str, Any], ready: Queue[int], go: StartSignal,
           out: Queue[Report]) -> None:
    gated = False

    def gate() -> None:
        nonlocal gated
        gated = True
        ready.put(os.getpid())
        go.wait()

    try:
        report = job(gate, **options)
        report.setdefault("ended", time.time())
        out.put(report)
    except BaseException:
        if not gated:
            ready.put(os.getpid())
        out.put({"error": traceback.format_exc(limit=6), "ended": time.time()})


def child_store(url: str) -> tuple[Engine, EventStore]:
    """A child's own engine (no pool: one connection at a time) and store, checked once."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect():
        pass
    return engine, EventStore(engine, TokenCounter())
