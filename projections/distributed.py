"""A sliced build whose slices other processes fold (`convlog worker`s on any host).

The same slices as a parallel build (`projections.parallel`), handed out as jobs
instead of local processes. The process that hands them out holds the projector
lock shared until it has merged them, as a parallel build's parent does: while it
lives, an ordinary catch-up (a worker's tick) leaves the unfinished slices to the
jobs instead of taking them over, and whichever process folds a slice holds the
shared lock and that slice's lock, so two never fold one slice. A worker killed
mid-slice loses its connections and with them its locks; the broker hands its
unacknowledged job to another worker, which resumes the slice from its checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from eventlog.encoding_names import DEFAULT_ENCODING
from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.parallel import plan_slices
from projections.policy import Policy
from projections.projector import BATCH_SIZE, CatchUpResult, Projector
from projections.projector.slices import SliceState, merge_slices, slice_states
from projections.registry import (
    ProjectionInfo,
    create,
    describe_holders,
    find,
    get,
    lock_holders,
    projector_lock_key,
    slice_lock_key,
    unlock_all,
)

__all__ = ["MAX_SLICES", "SendSlice", "SlicedBuild", "build_on_workers", "fold_slice",
           "wait_caught_up"]

MAX_SLICES = 4096  # slice_lock_key gives each projection room for this many
SendSlice = Callable[[str, int, int, bool], object]  # (name, slice, batch size, strict)
log = logging.getLogger("convlog.projections")


@dataclass(frozen=True)
class SlicedBuild:
    slices: int
    upto: int
    positions: int  # the log's positions the slices covered
    folded_here: int = 0  # slices nobody took, folded by the process that handed them out


def fold_slice(engine: Engine, store: EventStore, name: str, index: int, *,
               batch_size: int = BATCH_SIZE, strict: bool = False,
               wait_for_holder: float = 0.0) -> CatchUpResult | None:
    """Fold slice `index` of the unmerged build of `name` from its checkpoint.

    None when there is nothing to fold: the projection is gone, the build was merged,
    or the slice is done. While another process holds the slice, this waits up to
    `wait_for_holder` seconds for it to let go (a killed worker's backend can outlive
    it by a moment, and its job comes back at once), then gives up with `skipped`.
    """
    deadline = time.monotonic() + wait_for_holder
    while True:
        with engine.connect() as conn:
            info = find(conn, name)
            states = slice_states(conn, info.id, info.policy) if info is not None else []
        state = next((s for s in states if s.partition.index == index), None)
        if info is None or state is None or state.done:
            return None
        result = Projector(engine, store, name, batch_size=batch_size,
                           partition=state.partition, strict=strict).catch_up(info=info)
        if not result.skipped or time.monotonic() >= deadline:
            return result
        time.sleep(0.5)


def build_on_workers(engine: Engine, store: EventStore, name: str, slices: int,
                     send: SendSlice, *, policy: Policy | None = None,
                     encoding: str = DEFAULT_ENCODING, batch_size: int = BATCH_SIZE,
                     strict: bool = False, stall_seconds: float = 60.0, poll: float = 0.5,
                     deadline: float | None = None,
                     on_stall: Callable[[str], None] | None = None) -> SlicedBuild:
    """Build `name` up to the current horizon in `slices` slices that `send` hands out.

    With `policy`, the projection is created first, in the transaction that takes
    the lock and plans the slices, so no worker's catch-up can start folding it
    unsliced in between. An unfinished build keeps its slicing, as in
    `plan_slices`. Then this process watches the slices' checkpoints: when no slice
    has moved and none is held for `stall_seconds` (lost jobs, no worker running),
    it sends the unfinished ones again, and after another such stall folds them
    itself, so the log and not the broker decides when the build is done. Finally
    it merges the slices. `deadline` (seconds) bounds the wait: PROJECTION_BEHIND.
    """
    if not 1 <= slices <= MAX_SLICES:
        raise ProjectionError(f"a build has 1 to {MAX_SLICES} slices, not {slices}",
                              code="INVALID_SLICES")
    with engine.connect() as lock_conn:
        try:
            with lock_conn.begin():
                info = _create_and_lock(lock_conn, name, policy, encoding)
                plan = plan_slices(lock_conn, store, name, slices)
            start = min(s.checkpoint for s in plan)
            for state in plan:
                if not state.done:
                    send(name, state.partition.index, batch_size, strict)
            watch = _Watch(engine, store, info, batch_size, strict, stall_seconds, send,
                           on_stall)
            folded_here = watch.until_done(poll, deadline)
            with lock_conn.begin():
                merge_slices(lock_conn, info.id, strict=strict)
        finally:
            unlock_all(lock_conn)
    upto = max(s.upto for s in plan)
    return SlicedBuild(len(plan), upto, upto - start, folded_here)


def wait_caught_up(engine: Engine, store: EventStore, name: str, *, strict: bool = False,
                   poll: float = 0.2) -> ProjectionInfo:
    """Catch `name` up here, or, while another process (a worker) holds it, wait until
    it has folded up to the horizon as it stands now."""
    with engine.connect() as conn:
        target = store.horizon(conn)
    while True:
        result = Projector(engine, store, name, strict=strict).catch_up()
        with engine.connect() as conn:
            info = get(conn, name)
        if not result.skipped or info.checkpoint >= target:
            return info
        time.sleep(poll)


def _create_and_lock(conn: Connection, name: str, policy: Policy | None,
                     encoding: str) -> ProjectionInfo:
    if policy is not None:
        create(conn, name, policy, encoding)
    info = get(conn, name)
    key = projector_lock_key(info.id)
    # A session lock: it outlives this transaction, and a refusal rolls back the create.
    if not conn.execute(text("SELECT pg_try_advisory_lock_shared(:k)"), {"k": key}).scalar():
        raise ProjectionError(
            f"{name!r} is being caught up by {describe_holders(lock_holders(conn, key))}; "
            "wait for it to finish or stop it, then build again", code="PROJECTION_BUSY")
    return info


class _Watch:
    """Waits for the slices to be done, re-sending or folding them when nobody does."""

    def __init__(self, engine: Engine, store: EventStore, info: ProjectionInfo,
                 batch_size: int, strict: bool, stall_seconds: float, send: SendSlice,
                 on_stall: Callable[[str], None] | None) -> None:
        self.engine, self.store, self.info = engine, store, info
        self.batch_size, self.strict = batch_size, strict
        self.stall_seconds, self.send = stall_seconds, send
        self.on_stall = on_stall or log.warning
        self.resent = False

    def until_done(self, poll: float, deadline: float | None) -> int:
        started = time.monotonic()
        seen: tuple[tuple[int, int, bool], ...] = ()
        moved_at = started
        folded_here = 0
        while True:
            states, seen_now = self._look()
            left = [s for s in states if not s.done]
            if not left:
                return folded_here
            now = time.monotonic()
            if deadline is not None and now - started > deadline:
                raise ProjectionError(
                    f"{len(left)} of {len(states)} slices of {self.info.name!r} were not done "
                    f"after {deadline:.0f}s; run the build again to resume it",
                    code="PROJECTION_BEHIND")
            if seen_now != seen or any(held for _, _, held in seen_now):
                seen, moved_at = seen_now, now
            elif now - moved_at >= self.stall_seconds:
                folded_here += self._unstall(left)
                moved_at = time.monotonic()
            time.sleep(poll)

    def _look(self) -> tuple[list[SliceState], tuple[tuple[int, int, bool], ...]]:
        with self.engine.connect() as conn:
            states = slice_states(conn, self.info.id, self.info.policy)
            seen = tuple((s.partition.index, s.checkpoint, bool(lock_holders(
                conn, slice_lock_key(self.info.id, s.partition.index)))) for s in states)
        return states, seen

    def _unstall(self, left: list[SliceState]) -> int:
        indexes = ", ".join(str(s.partition.index) for s in left)
        if not self.resent:
            self.resent = True
            self.on_stall(f"no worker folded a slice of {self.info.name!r} for "
                          f"{self.stall_seconds:.0f}s; sending slices {indexes} again")
            for state in left:
                self.send(self.info.name, state.partition.index, self.batch_size, self.strict)
            return 0
        self.on_stall(f"still no worker on {self.info.name!r}; folding slices {indexes} here")
        folded = 0
        for state in left:
            result = fold_slice(self.engine, self.store, self.info.name, state.partition.index,
                                batch_size=self.batch_size, strict=self.strict)
            if result is not None and not result.skipped:
                folded += 1
        self.resent = False
        return folded
