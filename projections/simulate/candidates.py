"""Candidate policies built into temporary projections, and dropped however the run ends.

A candidate is an ordinary projection under a reserved name (`RESERVED_PREFIX`
and a random suffix), built by the ordinary projector, so the simulation sees
exactly the sessions `projection create` would make. While a run uses it, the
run holds a session-level advisory lock on it; a temporary projection whose
lock nobody holds was left by a run that was killed, and the next run drops it.
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import create, drop, find

RESERVED_PREFIX = "__simulate_"
_LOCK_BASE = 0x636C730000000000  # "cls", plus a CRC of the temporary projection's name
# A worker's tick may be catching a candidate up when the run asks; the run waits
# for it (the projection is then built by whoever holds the lock) this long.
BUSY_WAIT_SECONDS = 600.0


def is_temporary(name: str) -> bool:
    """Names under the reserved prefix belong to simulations; never make one yourself."""
    return name.startswith(RESERVED_PREFIX)


def _lock_key(name: str) -> int:
    """The advisory lock a run holds on its temporary projection, taken before creating it."""
    return _LOCK_BASE + zlib.crc32(name.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Candidate:
    label: str  # what the table calls it: the policy's name or its file's stem
    projection: str
    projection_id: int
    policy: Policy


def drop_abandoned(engine: Engine) -> list[str]:
    """Drop temporary projections no live run holds (left by a killed run); their names."""
    dropped: list[str] = []
    with engine.connect() as conn:
        with conn.begin():
            names = [row[0] for row in conn.execute(text(
                "SELECT name FROM projections WHERE starts_with(name, :prefix) ORDER BY id"),
                {"prefix": RESERVED_PREFIX})]
        for name in names:
            with conn.begin():
                info = find(conn, name)
                if info is None or info.active or info.previous:
                    continue
                key = _lock_key(name)
                if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    continue  # a run is using it right now
            try:
                with conn.begin():
                    drop(conn, info, timeout_seconds=5.0)
                dropped.append(name)
            except ProjectionError:
                pass  # busy (a worker is catching it up): the next run tries again
            finally:
                with conn.begin():
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    return dropped


@contextmanager
def temporary_projections(engine: Engine, store: EventStore, policies: list[tuple[str, Policy]],
                          *, workers: int = 1) -> Iterator[list[Candidate]]:
    """Build one temporary projection per policy; drop them all after, whatever happens.

    One after the other, or `workers` at a time, each by the ordinary projector
    on its own connections (a build's work is mostly the server's, so threads
    suffice). The yielded candidates are caught up with the log as it was when
    each was built; callers compare them up to the least checkpoint of all.
    """
    drop_abandoned(engine)
    with engine.connect() as holder:  # keeps the run's locks for as long as it lasts
        candidates: list[Candidate] = []
        try:
            for label, policy in policies:
                name = RESERVED_PREFIX + secrets.token_hex(6)
                # Locked before it exists, so no other run's cleanup can take it for
                # a killed run's leftover between its creation and the lock.
                holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(name)})
                holder.commit()
                with engine.begin() as conn:
                    info = create(conn, name, policy)
                candidates.append(Candidate(label, name, info.id, policy))
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for _ in pool.map(lambda c: build(engine, store, c.projection), candidates):
                    pass
            yield candidates
        finally:
            for candidate in candidates:
                try:
                    with engine.begin() as conn:
                        built = find(conn, candidate.projection)
                        if built is not None:
                            drop(conn, built)
                except ProjectionError:
                    pass  # busy: unlocked below, so the next run drops it
            holder.rollback()
            holder.execute(text("SELECT pg_advisory_unlock_all()"))
            holder.commit()


def build(engine: Engine, store: EventStore, name: str) -> None:
    """Catch `name` up to the log's horizon at the time of the call.

    When another process (a worker's tick) holds the projector lock, it is
    building the same projection: wait until the checkpoint reaches the horizon.
    """
    with engine.connect() as conn:
        target = store.horizon(conn)
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        result = Projector(engine, store, name).catch_up()
        if not result.skipped:
            return
        with engine.connect() as conn:
            info = find(conn, name)
        if info is not None and info.checkpoint >= target:
            return
        if time.monotonic() > deadline:
            raise ProjectionError(
                f"the temporary projection {name!r} stayed locked by another process for "
                f"{BUSY_WAIT_SECONDS:.0f}s; stop it and run the simulation again",
                code="PROJECTION_BUSY")
        time.sleep(0.2)


def checkpoint_of(conn: Connection, name: str) -> int:
    info = find(conn, name)
    if info is None:
        raise ProjectionError(f"the projection {name!r} went away during the simulation; "
                              "run it again", code="UNKNOWN_PROJECTION")
    return info.checkpoint
