"""The catch-up loop: one projector per projection, in batches, checkpointed by compare-and-set."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from eventlog.store import EventStore, Partition
from projections.errors import StaleCheckpoint
from projections.projector.fold import fold_batch
from projections.projector.interface import BatchFold
from projections.projector.state import TRIGGER_TEXT_CHARS, BatchResult, CatchUpResult
from projections.registry import ProjectionInfo, get, projector_lock_key, slice_lock_key
from projections.resolver import CompiledPolicy, compile_policy

BatchHook = Callable[[str, int], None]


class Projector:
    """Catches one projection up with the log, batch by batch."""

    def __init__(self, engine: Engine, store: EventStore, name: str | None = None, *,
                 batch_size: int = 5_000, hook: BatchHook | None = None,
                 partition: Partition | None = None, fold: BatchFold = fold_batch) -> None:
        self.engine = engine
        self.store = store
        self.name = name
        self.batch_size = batch_size
        self.hook = hook  # tests use it to crash at chosen points
        self.partition = partition  # one slice of a parallel rebuild (projections.parallel)
        self.fold = fold  # what turns a batch of events into session rows

    def info(self) -> ProjectionInfo:
        with self.engine.connect() as conn:
            return get(conn, self.name)

    def catch_up(self, *, max_batches: int | None = None,
                 on_batch: Callable[[BatchResult], None] | None = None) -> CatchUpResult:
        """Project everything up to the horizon; a no-op if another projector holds the lock."""
        info = self.info()
        compiled = compile_policy(info.policy)
        result = CatchUpResult(checkpoint=info.checkpoint)
        started = time.perf_counter()
        with self.engine.connect() as lock_conn:
            if not self._lock(lock_conn, info.id):
                lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
                lock_conn.commit()
                result.skipped = True
                return result
            try:
                while max_batches is None or result.batches < max_batches:
                    batch = self.run_batch(info.id, compiled)
                    if batch is None:
                        break
                    result.events += batch.events
                    result.batches += 1
                    result.checkpoint = batch.checkpoint
                    if on_batch is not None:
                        on_batch(batch)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
                lock_conn.commit()
        result.seconds = time.perf_counter() - started
        return result

    def _lock(self, conn: Connection, projection_id: int) -> bool:
        """One projector per projection; slices of a parallel build share it among them."""
        key = projector_lock_key(projection_id)
        if self.partition is None:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                return False
            # A parallel build that has not been merged owns the projection.
            return conn.execute(text("SELECT 1 FROM projection_slices WHERE projection_id = :p"),
                                {"p": projection_id}).first() is None
        slice_key = slice_lock_key(projection_id, self.partition.index)
        return bool(conn.execute(
            text("SELECT pg_try_advisory_lock_shared(:k) AND pg_try_advisory_lock(:s)"),
            {"k": key, "s": slice_key}).scalar())

    def _checkpoint(self, conn: Connection, projection_id: int) -> tuple[int, int | None]:
        if self.partition is None:
            return conn.execute(text("SELECT checkpoint FROM projections WHERE id = :id"),
                                {"id": projection_id}).scalar_one(), None
        row = conn.execute(text(
            "SELECT checkpoint, upto FROM projection_slices WHERE projection_id = :p "
            "AND slice = :s"), {"p": projection_id, "s": self.partition.index}).one()
        return row.checkpoint, row.upto

    def _move_checkpoint(self, conn: Connection, projection_id: int, old: int, new: int) -> None:
        # The checkpoint moves in the same transaction as the rows, and only from
        # the value this batch started at: a stale or duplicate projector fails
        # here and its whole batch rolls back.
        if self.partition is None:
            sql = ("UPDATE projections SET checkpoint = :new, updated_at = now() "
                   "WHERE id = :p AND checkpoint = :old")
            params = {"p": projection_id, "old": old, "new": new}
        else:
            sql = ("UPDATE projection_slices SET checkpoint = :new WHERE projection_id = :p "
                   "AND slice = :s AND checkpoint = :old")
            params = {"p": projection_id, "old": old, "new": new, "s": self.partition.index}
        if conn.execute(text(sql), params).rowcount != 1:
            raise StaleCheckpoint(f"checkpoint of projection {projection_id} moved")

    def run_batch(self, projection_id: int, policy: CompiledPolicy) -> BatchResult | None:
        """Project one batch; None when there was nothing to do."""
        with self.engine.begin() as conn:
            checkpoint, upto = self._checkpoint(conn, projection_id)
            if upto is not None and checkpoint >= upto:
                return None
            window = self._window(checkpoint, upto)
            # The fold needs envelopes and only the start of a text (for reset
            # triggers); not decoding whole tool outputs roughly halves the read.
            events = self.store.read(conn, checkpoint, self.batch_size, upto=window,
                                     partition=self.partition, text_chars=TRIGGER_TEXT_CHARS)
            if not events:
                if self.partition is None:
                    conn.execute(text("UPDATE projections SET caught_up_at = coalesce("
                                      "caught_up_at, now()) WHERE id = :id"),
                                 {"id": projection_id})
                    return None
                assert window is not None
                self._move_checkpoint(conn, projection_id, checkpoint, window)
                return BatchResult(0, window)
            self._hook("read", len(events))
            outcome = self.fold(conn, projection_id, policy, events)
            self._hook("written", len(events))
            new_checkpoint = events[-1].position
            if window is not None and len(events) < self.batch_size:
                new_checkpoint = window  # the slice has nothing more up to the window's end
            self._move_checkpoint(conn, projection_id, checkpoint, new_checkpoint)
            self._hook("checkpointed", len(events))
            return BatchResult(len(events), new_checkpoint, outcome.members,
                               outcome.sessions_touched)

    def _window(self, checkpoint: int, upto: int | None) -> int | None:
        """For a slice: read a bounded range of positions.

        A slice's filter is a hash the planner cannot estimate; bounding the
        position range keeps each read an index range scan instead of a scan
        and sort of everything after the checkpoint.
        """
        if self.partition is None:
            return upto
        assert upto is not None
        return min(upto, checkpoint + self.batch_size * self.partition.count)

    def _hook(self, point: str, count: int) -> None:
        if self.hook is not None:
            self.hook(point, count)
