"""The projector lock: taken once per catch-up, and proven held before every batch."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from eventlog.partition import Partition
from projections.errors import LockLost
from projections.registry import projector_lock_key, slice_lock_key

HeldLocks = list[tuple[int, str]]  # (advisory key, pg_locks mode)

_HOLDS = text(
    "SELECT count(*) FROM pg_locks l JOIN unnest(CAST(:hi AS bigint[]), "
    "CAST(:lo AS bigint[]), CAST(:modes AS text[])) AS w(hi, lo, mode) "
    "ON l.classid::bigint = w.hi AND l.objid::bigint = w.lo AND l.mode = w.mode "
    "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted "
    "AND l.pid = pg_backend_pid()")


def take_lock(conn: Connection, projection_id: int,
              partition: Partition | None) -> HeldLocks | None:
    """One projector per projection; slices of a parallel build share it among them."""
    key = projector_lock_key(projection_id)
    if partition is None:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()  # session locks outlive it; no transaction stays open for hours
        return [(key, "ExclusiveLock")] if got else None
    slice_key = slice_lock_key(projection_id, partition.index)
    got = conn.execute(
        text("SELECT pg_try_advisory_lock_shared(:k) AND pg_try_advisory_lock(:s)"),
        {"k": key, "s": slice_key}).scalar()
    conn.commit()
    return [(key, "ShareLock"), (slice_key, "ExclusiveLock")] if got else None


def check_lock(conn: Connection, held: HeldLocks, label: str) -> None:
    """Raise LockLost unless `conn` is alive and still holds every lock in `held`."""
    try:
        count = conn.execute(_HOLDS, {"hi": [k >> 32 for k, _ in held],
                                      "lo": [k & 0xFFFFFFFF for k, _ in held],
                                      "modes": [m for _, m in held]}).scalar_one()
        conn.commit()
    except DBAPIError as error:
        raise LockLost(
            f"the projector of {label} lost its lock: its lock "
            f"connection failed ({str(error.orig).strip().splitlines()[0]}); it stopped "
            "before its next batch. What committed stays; run the catch-up again") from error
    if count != len(held):
        raise LockLost(f"the projector of {label} no longer holds its "
                       "lock; it stopped before its next batch. What committed stays; run "
                       "the catch-up again", code="LOCK_LOST")

