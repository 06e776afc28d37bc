"""Parallel rebuild: slices of the log, by a hash of what sessions never cross, in processes."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text

from eventlog.store import EventStore, Partition
from eventlog.tokens import TokenCounter
from projections.errors import ProjectionError
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get, projector_lock_key


def slice_columns(policy: Policy) -> tuple[str, ...]:
    """Envelope columns no session crosses under `policy`, so slices never share state.

    Sessions are always separated by agent, and by platform and account unless DMs
    are scoped `main` or `per-peer`; replies, edits and threads stay inside them.
    """
    if policy.dm_scope in ("main", "per-peer"):
        return ("agent",)
    return ("agent", "platform", "account")


@dataclass(frozen=True)
class ParallelResult:
    workers: int
    upto: int
    events: int


def _run_slice(url: str, name: str, partition: Partition, batch_size: int,
               encoding: str) -> int:
    engine = create_engine(url)
    try:
        store = EventStore(engine, TokenCounter(encoding))
        result = Projector(engine, store, name, batch_size=batch_size,
                           partition=partition).catch_up()
        if result.skipped:
            raise ProjectionError(f"slice {partition.index} of {name!r} is busy elsewhere",
                                  code="PROJECTION_BUSY")
        return result.events
    finally:
        engine.dispose()


def rebuild_parallel(engine: Engine, store: EventStore, name: str, workers: int, *,
                     batch_size: int = 5_000, encoding: str | None = None) -> ParallelResult:
    """Project `name` up to the current horizon with `workers` processes, then merge.

    Each slice keeps its own checkpoint, so a killed build resumes when run again
    with the same number of workers; until the merge, the ordinary projector
    leaves the projection alone. The worker processes use the token `encoding`
    given, by default that of `store`'s counter, so they match the caller's.
    """
    encoding = encoding if encoding is not None else store.counter.encoding_name
    with engine.begin() as conn:
        info = get(conn, name)
        columns = slice_columns(info.policy)
        existing = conn.execute(text(
            "SELECT slices, max(upto) FROM projection_slices WHERE projection_id = :p "
            "GROUP BY slices"), {"p": info.id}).first()
        if existing is not None and existing[0] != workers:
            raise ProjectionError(f"{name!r} has an unfinished build in {existing[0]} slices; "
                                  f"resume it with {existing[0]} workers",
                                  code="PROJECTION_BUSY")
        upto = existing[1] if existing is not None else store.horizon(conn)
        for index in range(workers):
            conn.execute(text(
                "INSERT INTO projection_slices (projection_id, slice, slices, checkpoint, upto) "
                "VALUES (:p, :i, :n, :cp, :upto) ON CONFLICT DO NOTHING"),
                {"p": info.id, "i": index, "n": workers, "cp": info.checkpoint, "upto": upto})
    url = engine.url.render_as_string(hide_password=False)
    jobs = [(url, name, Partition(i, workers, columns), batch_size, encoding)
            for i in range(workers)]
    if workers == 1:
        counts = [_run_slice(*jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            counts = pool.starmap(_run_slice, jobs)
    _merge(engine, info.id, upto)
    return ParallelResult(workers, upto, sum(counts))


def _merge(engine: Engine, projection_id: int, upto: int) -> None:
    """Hand the projection back to the ordinary projector once every slice is at `upto`."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": projector_lock_key(projection_id)})
        behind = conn.execute(text(
            "SELECT count(*) FROM projection_slices WHERE projection_id = :p "
            "AND checkpoint < upto"), {"p": projection_id}).scalar_one()
        if behind:
            raise ProjectionError(f"{behind} slices did not finish; run the build again",
                                  code="PROJECTION_BEHIND")
        conn.execute(text("UPDATE projections SET checkpoint = :upto, updated_at = now() "
                          "WHERE id = :p"), {"p": projection_id, "upto": upto})
        conn.execute(text("DELETE FROM projection_slices WHERE projection_id = :p"),
                     {"p": projection_id})
