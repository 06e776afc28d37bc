"""Parallel rebuild: slices of the log, by a hash of what sessions never cross, in processes."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, text

from eventlog.partition import Partition
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.errors import ProjectionError
from projections.projector import BATCH_SIZE, Projector
from projections.projector.slices import SliceState, merge_slices, slice_columns, slice_states
from projections.registry import (
    describe_holders,
    get,
    lock_holders,
    projector_lock_key,
    unlock_all,
)

__all__ = ["ParallelResult", "plan_slices", "rebuild_parallel", "slice_columns"]


@dataclass(frozen=True)
class ParallelResult:
    workers: int
    upto: int
    events: int
    slices: int = 0


def _run_slice(url: str, name: str, partition: Partition, batch_size: int,
               encoding: str, strict: bool) -> int:
    engine = create_engine(url)
    try:
        store = EventStore(engine, TokenCounter(encoding))
        result = Projector(engine, store, name, batch_size=batch_size,
                           partition=partition, strict=strict).catch_up()
        if result.skipped:
            raise ProjectionError(f"slice {partition.index} of {name!r} is busy elsewhere",
                                  code="PROJECTION_BUSY")
        return result.events
    finally:
        engine.dispose()


def plan_slices(conn: Connection, store: EventStore, name: str,
                workers: int) -> list[SliceState]:
    """The slices of a build of `name`: those of an unfinished one, else `workers` new ones.

    An unfinished build keeps its slicing (the hash decides which events a slice
    holds), whatever number of processes resumes it.
    """
    info = get(conn, name)
    existing = slice_states(conn, info.id, info.policy)
    if existing:
        return existing
    upto = store.horizon(conn)
    columns = slice_columns(info.policy)
    for index in range(workers):
        conn.execute(text(
            "INSERT INTO projection_slices (projection_id, slice, slices, checkpoint, upto) "
            "VALUES (:p, :i, :n, :cp, :upto)"),
            {"p": info.id, "i": index, "n": workers, "cp": info.checkpoint, "upto": upto})
    return [SliceState(Partition(index, workers, columns), info.checkpoint, upto)
            for index in range(workers)]


def rebuild_parallel(engine: Engine, store: EventStore, name: str, workers: int, *,
                     batch_size: int = BATCH_SIZE, encoding: str | None = None,
                     strict: bool = False) -> ParallelResult:
    """Project `name` up to the current horizon with `workers` processes, then merge.

    Each slice keeps its own checkpoint, so a killed build resumes when run again
    (with any number of workers, or by the ordinary projector, one slice after
    the other). Until the merge, the ordinary projector leaves the projection
    alone: this process holds the projector lock shared for the whole build, as
    the slices do. The worker processes use the token `encoding` given, by
    default that of `store`'s counter, so they match the caller's.
    """
    encoding = encoding if encoding is not None else store.counter.encoding_name
    with engine.connect() as lock_conn:
        try:
            with lock_conn.begin():
                projection_id = get(lock_conn, name).id
            key = projector_lock_key(projection_id)
            if not lock_conn.execute(text("SELECT pg_try_advisory_lock_shared(:k)"),
                                     {"k": key}).scalar():
                holders = describe_holders(lock_holders(lock_conn, key))
                raise ProjectionError(f"{name!r} is being caught up by {holders}; wait for it "
                                      "to finish or stop it, then build again",
                                      code="PROJECTION_BUSY")
            lock_conn.commit()
            with lock_conn.begin():
                slices = plan_slices(lock_conn, store, name, workers)
            upto = max(s.upto for s in slices)
            url = engine.url.render_as_string(hide_password=False)
            jobs = [(url, name, s.partition, batch_size, encoding, strict)
                    for s in slices if not s.done]
            processes = max(1, min(workers, len(jobs)))
            if processes == 1:
                counts = [_run_slice(*job) for job in jobs]
            else:
                with multiprocessing.get_context("spawn").Pool(processes) as pool:
                    counts = pool.starmap(_run_slice, jobs)
            with lock_conn.begin():
                merge_slices(lock_conn, projection_id, strict=strict)
        finally:
            unlock_all(lock_conn)
    return ParallelResult(processes, upto, sum(counts), len(slices))
