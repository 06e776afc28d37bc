"""The catch-up loop: one projector per projection, in batches, checkpointed by compare-and-set."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from eventlog.envelopes import Envelope, read_envelopes
from eventlog.partition import Partition
from eventlog.store import EventStore
from projections.errors import PoisonEvent, StaleCheckpoint
from projections.projector.assign import Known, Wanted
from projections.projector.fold import Seen, fold_batch, plan_batch, prepare_batch
from projections.projector.interface import BatchFold, BatchPrepare, FoldOutcome
from projections.projector.locks import HeldLocks, check_lock, take_lock
from projections.projector.quarantine import blame, fold_isolating, read_isolating, record
from projections.projector.readahead import ReadAhead
from projections.projector.slices import merge_slices, slice_states
from projections.projector.state import (
    BATCH_SIZE,
    TRIGGER_TEXT_CHARS,
    BatchResult,
    CatchUpResult,
    Quarantined,
)
from projections.registry import (
    CHECKPOINT_CHANNEL,
    ProjectionInfo,
    get,
    index_partitions,
    lock_holders,
    projector_lock_key,
    unlock_all,
)
from projections.resolver import CompiledPolicy, compile_policy

BatchHook = Callable[[str, int], None]
OnBatch = Callable[[BatchResult], None]
_NO_JIT = text("SET LOCAL jit = off")
_INDEXED = text("SELECT checkpoint, EXISTS (SELECT 1 FROM message_index i "
                "WHERE i.projection_id = :p) FROM projections WHERE id = :p")


class _Poisoned(Exception):
    """Reading or folding a batch raised an error some event is to blame for: isolate it."""


class Projector:
    """Catches one projection up with the log, batch by batch."""

    def __init__(self, engine: Engine, store: EventStore, name: str | None = None, *,
                 batch_size: int = BATCH_SIZE, hook: BatchHook | None = None,
                 partition: Partition | None = None, fold: BatchFold = fold_batch,
                 prepare: BatchPrepare | None = None, strict: bool = False) -> None:
        self.engine = engine
        self.store = store
        self.name = name
        self.batch_size = batch_size
        self.hook = hook  # tests use it to crash at chosen points
        self.partition = partition  # one slice of a parallel rebuild (projections.parallel)
        self.fold = fold  # what turns a batch of events into session rows
        # The fold's pure work, done on the read-ahead thread: the default fold's own
        # unless another fold (and its own preparation, if any) is given.
        self.prepare = prepare or (prepare_batch if fold is fold_batch else None)
        self.strict = strict  # stop at a poison event instead of quarantining it
        self._label = repr(name) if name else "the active projection"
        self._ahead: ReadAhead | None = None  # while `_run` runs
        self._prepared: object | None = None  # the read-ahead's preparation of this batch
        self._marked_caught_up = False  # caught_up_at is set (read by catch_up)
        self._seen: Seen | None = None  # what a build from an empty index has indexed
        self._seen_at = 0  # the checkpoint `_seen` is complete up to

    def info(self) -> ProjectionInfo:
        with self.engine.connect() as conn:
            return get(conn, self.name)

    def catch_up(self, *, max_batches: int | None = None, on_batch: OnBatch | None = None,
                 info: ProjectionInfo | None = None) -> CatchUpResult:
        """Project everything up to the horizon; a no-op if another projector holds the lock.

        An interrupted parallel build of the projection (its slices unmerged and
        no slice process alive, or the lock could not be had) is finished here,
        slice by slice, before the ordinary catch-up goes on. `info`: the projection as
        the caller last read it (its policy never changes; its checkpoint is read again
        under the lock), saving the read.
        """
        info = info if info is not None else self.info()
        self._marked_caught_up = info.caught_up_at is not None
        self._label = repr(info.name)
        compiled = compile_policy(info.policy)
        result = CatchUpResult(checkpoint=info.checkpoint)
        started = time.perf_counter()
        with self.engine.connect() as lock_conn:
            try:
                held = take_lock(lock_conn, info.id, self.partition)
                if held is None:
                    result.skipped = True
                    result.holders = tuple(lock_holders(lock_conn, projector_lock_key(info.id)))
                    return result
                if self.partition is not None or self._finish_sliced_build(
                        lock_conn, held, info, compiled, result, on_batch, max_batches):
                    self._run(lock_conn, held, info.id, compiled, result, on_batch, max_batches,
                              fresh=info.checkpoint == 0)
            finally:
                unlock_all(lock_conn)
        result.seconds = time.perf_counter() - started
        return result

    def _run(self, lock_conn: Connection, held: HeldLocks, projection_id: int,
             policy: CompiledPolicy, result: CatchUpResult, on_batch: OnBatch | None,
             max_batches: int | None, *, fresh: bool = False) -> bool:
        """Batches until there is nothing left (True) or max_batches is reached (False).

        `fresh`: the projection had nothing folded when the caller looked (a build).
        """
        prepare = self.prepare
        # Plans are the default fold's: another fold decides for itself.
        planned = self.fold is fold_batch and prepare is prepare_batch
        self._seen = self._record_of_build(projection_id) if planned and fresh else None

        def plan(events: list[Envelope], want: object, before: object) -> object:
            assert isinstance(want, Wanted) and isinstance(before, Known)
            return plan_batch(self.engine, projection_id, policy, events, want, before,
                              self._seen)

        self._ahead = ReadAhead(
            self.engine, self.partition, TRIGGER_TEXT_CHARS,
            prepare=(lambda events: prepare(policy, events)) if prepare is not None else None,
            plan=plan if planned else None)
        try:
            while max_batches is None or result.batches < max_batches:
                # A projector whose lock went away (its connection died) must not write
                # another batch: another projector may already hold the lock.
                check_lock(lock_conn, held, self._label)
                batch = self.run_batch(projection_id, policy)
                if batch is None:
                    return True
                result.events += batch.events
                result.batches += 1
                result.quarantined += len(batch.quarantined)
                if self.partition is None:
                    result.checkpoint = self._seen_at = batch.checkpoint
                if on_batch is not None:
                    on_batch(batch)
                if batch.caught_up:  # no empty batch to learn that nothing is left
                    return True
            return False
        finally:
            self._ahead.close()
            self._ahead = None
            self._seen = None

    def _record_of_build(self, projection_id: int) -> Seen | None:
        """A record of what this run indexes, when the projection's index is empty.

        The projector lock is held, so only this run writes the index from here on;
        slices of a parallel build index on their own, so they keep none.
        """
        if self.partition is not None:
            return None
        with self.engine.connect() as conn:
            checkpoint, indexed = conn.execute(_INDEXED, {"p": projection_id}).one()
            if indexed:
                return None
            self._seen_at = checkpoint
            return Seen(self.store.horizon(conn))

    def _decided(self, known: object) -> None:
        """A batch's decisions are made (its writes follow): what it indexed is recorded,
        then its state is handed to the next batch's plan."""
        if self._seen is not None and isinstance(known, Known):
            self._seen.add(known.index)
        if self._ahead is not None:
            self._ahead.hand_over(known)

    def _finish_sliced_build(self, lock_conn: Connection, held: HeldLocks,
                             info: ProjectionInfo, policy: CompiledPolicy,
                             result: CatchUpResult, on_batch: OnBatch | None,
                             max_batches: int | None) -> bool:
        """Finish and merge an interrupted parallel build; False while slices remain.

        Slice processes hold the projector lock shared, so holding it exclusively
        proves none is alive: the slices are orphans, and running them here one
        after the other gives what the processes would have.
        """
        with self.engine.connect() as conn:
            states = slice_states(conn, info.id, info.policy)
        if not states:
            return True
        for state in states:
            if state.done:
                continue
            part = Projector(self.engine, self.store, info.name, batch_size=self.batch_size,
                             hook=self.hook, partition=state.partition, fold=self.fold,
                             prepare=self.prepare, strict=self.strict)
            if not part._run(lock_conn, held, info.id, policy, result, on_batch, max_batches):
                return False
            result.resumed_slices += 1
        with self.engine.begin() as conn:
            merge_slices(conn, info.id, strict=self.strict)
            result.checkpoint = get(conn, info.name).checkpoint
        return True

    def _checkpoint(self, conn: Connection, projection_id: int) -> tuple[int, int | None]:
        # FOR UPDATE: a second projector (one that lost its lock, say) waits here
        # for this batch to commit and then starts from the moved checkpoint,
        # instead of folding the same events again only to fail at the end.
        if self.partition is None:
            return conn.execute(text("SELECT checkpoint FROM projections WHERE id = :id "
                                     "FOR UPDATE"), {"id": projection_id}).scalar_one(), None
        row = conn.execute(text(
            "SELECT checkpoint, upto FROM projection_slices WHERE projection_id = :p "
            "AND slice = :s FOR UPDATE"), {"p": projection_id, "s": self.partition.index}).one()
        return row.checkpoint, row.upto

    def _move_checkpoint(self, conn: Connection, projection_id: int, old: int, new: int) -> None:
        # The checkpoint moves in the same transaction as the rows, and only from
        # the value this batch started at: a stale or duplicate projector fails
        # here and its whole batch rolls back.
        if self.partition is None:
            # Followers in other processes wake on the notice (at commit).
            sql = ("WITH moved AS (UPDATE projections SET checkpoint = :new, updated_at = now() "
                   "WHERE id = :p AND checkpoint = :old RETURNING id) "
                   "SELECT pg_notify(:channel, id || ':' || :new) FROM moved")
            params = {"p": projection_id, "old": old, "new": new,
                      "channel": CHECKPOINT_CHANNEL}
        else:
            sql = ("UPDATE projection_slices SET checkpoint = :new WHERE projection_id = :p "
                   "AND slice = :s AND checkpoint = :old")
            params = {"p": projection_id, "old": old, "new": new, "s": self.partition.index}
        if conn.execute(text(sql), params).rowcount != 1:
            raise StaleCheckpoint(f"checkpoint of projection {projection_id} moved")

    def run_batch(self, projection_id: int, policy: CompiledPolicy) -> BatchResult | None:
        """Project one batch; None when there was nothing to do.

        When reading or folding fails for something an event is to blame for,
        the batch rolls back and is done again, isolating the poison events.
        """
        try:
            return self._batch(projection_id, policy, isolate=False)
        except _Poisoned:
            # Isolating folds sub-batches past `_decided`: the record would miss what
            # they index, so the rest of the run looks every name up.
            self._seen = None
            if self._ahead is not None:
                # What this batch decided before it failed may have reached the next
                # batch's plan: that plan must not outlive it.
                self._ahead.discard()
            return self._batch(projection_id, policy, isolate=True)

    def _batch(self, projection_id: int, policy: CompiledPolicy, *,
               isolate: bool) -> BatchResult | None:
        stopped: Quarantined | None = None
        with self.engine.begin() as conn:
            # A batch's statements are short; on a large log a reused (generic) plan is
            # costed high enough for JIT compilation, which took longer than the
            # statement itself (12 ms of 13 for the index load at 2M events).
            conn.execute(_NO_JIT)
            checkpoint, upto = self._checkpoint(conn, projection_id)
            if self._seen is not None and checkpoint != self._seen_at:
                # Another projector committed since (one that lost its lock, finishing
                # the batch it was writing): what it indexed is not in the record.
                self._seen = None
            if upto is not None and checkpoint >= upto:
                return None
            window, final = self._window(conn, checkpoint, upto)
            events, unreadable = self._read(conn, checkpoint, window, isolate=isolate)
            if self._ahead is not None and not final and not isolate:
                # The next batch starts where this one ends, unless a poison event
                # stops it short (then the read ahead is not taken).
                following, _ = self._window(conn, window, upto)
                self._ahead.schedule(window, self.batch_size, following)
            if not events and unreadable is None:
                if self.partition is None and final:
                    self._mark_caught_up(conn, projection_id)
                    return None
                self._move_checkpoint(conn, projection_id, checkpoint, window)
                return BatchResult(0, window)
            self._hook("read", len(events))
            outcome, quarantined, stopped = self._fold(conn, projection_id, policy, events,
                                                       isolate=isolate)
            if stopped is None and unreadable is not None:
                if self.strict:
                    stopped = unreadable
                else:
                    quarantined += (unreadable,)
            record(conn, projection_id, quarantined)
            if stopped is not None:
                events = [e for e in events if e.position < stopped.position]
            self._hook("written", len(events))
            new_checkpoint = events[-1].position if events else checkpoint
            if stopped is not None:
                new_checkpoint = stopped.position - 1  # what precedes it stays folded
            elif unreadable is not None:
                new_checkpoint = unreadable.position  # the batch ended at it
            elif len(events) < self.batch_size:
                new_checkpoint = window  # nothing more up to the window's end
            caught_up = (self.partition is None and final and stopped is None
                         and unreadable is None and len(events) < self.batch_size)
            if caught_up:
                self._mark_caught_up(conn, projection_id)
            self._move_checkpoint(conn, projection_id, checkpoint, new_checkpoint)
            self._hook("checkpointed", len(events))
        if stopped is not None:
            raise PoisonEvent(
                f"event at position {stopped.position} cannot be folded into "
                f"{self._label} ({stopped.code}: {stopped.error}); strict mode stops here, "
                f"at position {stopped.position - 1}. Without strict mode the event would "
                "be quarantined and the projection would go on",
                position=stopped.position, cause_code=stopped.code)
        return BatchResult(len(events) + len(quarantined), new_checkpoint, outcome.members,
                           outcome.sessions_touched, quarantined, caught_up)

    def _mark_caught_up(self, conn: Connection, projection_id: int) -> None:
        """The first time the projection reaches the head (a build's end), say when."""
        if not self._marked_caught_up:
            # The build's end: its secondary indexes, in one pass each, in the same
            # transaction, so a projection is never caught up (nor activated) without them.
            index_partitions(conn, projection_id)
            conn.execute(text("UPDATE projections SET caught_up_at = coalesce(caught_up_at, "
                              "now()) WHERE id = :id"), {"id": projection_id})
            self._marked_caught_up = True

    def _read(self, conn: Connection, checkpoint: int, window: int, *,
              isolate: bool) -> tuple[list[Envelope], Quarantined | None]:
        """The batch's events; when isolating, up to the first one the driver cannot load."""

        def read(after: int, limit: int, upto: int) -> list[Envelope]:
            # The fold needs envelopes and only the start of a user's text (for
            # reset commands): no content is decoded.
            return read_envelopes(conn, after, limit, upto, partition=self.partition,
                                  text_chars=TRIGGER_TEXT_CHARS)

        if isolate:
            return read_isolating(conn, read, checkpoint, self.batch_size, window)
        self._prepared = None
        if self._ahead is not None:
            ahead = self._ahead.take(checkpoint, self.batch_size, window)
            if ahead is not None:
                events, self._prepared = ahead
                return events, None
        try:
            return read(checkpoint, self.batch_size, window), None
        except Exception as error:
            if blame(error) is None:
                raise
            raise _Poisoned from error

    def _fold(self, conn: Connection, projection_id: int, policy: CompiledPolicy,
              events: list[Envelope], *, isolate: bool
              ) -> tuple[FoldOutcome, tuple[Quarantined, ...], Quarantined | None]:
        """(outcome, quarantined, strict mode's stop) of folding the batch's events."""
        if not events:
            return FoldOutcome(0, 0), (), None
        if not isolate:
            prepared, self._prepared = self._prepared, None
            decided = self._decided if self._ahead is not None else None  # set with _seen
            try:
                return (self.fold(conn, projection_id, policy, events, prepared, decided), (),
                        None)
            except Exception as error:
                if blame(error) is None:
                    raise
                raise _Poisoned from error
        isolated = fold_isolating(conn, self.fold, projection_id, policy, events,
                                  strict=self.strict)
        return isolated.outcome(), tuple(isolated.quarantined or ()), isolated.stopped_at

    def _window(self, conn: Connection, checkpoint: int,
                upto: int | None) -> tuple[int, bool]:
        """(the last position this batch may read, whether that is the end of the work).

        Reads are bounded ranges of positions, never "the next N after the
        checkpoint": the range is an index range scan whatever the planner's
        statistics say (a freshly loaded log has none), and a slice's hash filter,
        which the planner cannot estimate, never turns a read into a scan and sort
        of everything after the checkpoint.
        """
        if self.partition is None:
            horizon = self.store.horizon(conn)
            end = min(horizon, checkpoint + self.batch_size)
            return end, end >= horizon
        assert upto is not None
        end = min(upto, checkpoint + self.batch_size * self.partition.count)
        return end, end >= upto

    def _hook(self, point: str, count: int) -> None:
        if self.hook is not None:
            self.hook(point, count)
