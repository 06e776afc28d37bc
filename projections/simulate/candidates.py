"""The projections a simulation touches: the baseline it catches up, and leftovers it drops.

Candidates are decided in memory (`replay`); an earlier release built each into
a temporary projection under a reserved name (`RESERVED_PREFIX` and a random
suffix), holding a session-level advisory lock on it while the run lasted. Such
a projection whose lock nobody holds was left by a run that was killed, and the
next run drops it; workers never catch those names up.
"""

from __future__ import annotations

import time
import zlib

from sqlalchemy import Engine, text

from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.projector import Projector
from projections.registry import drop, find

RESERVED_PREFIX = "__simulate_"
_LOCK_BASE = 0x636C730000000000  # "cls", plus a CRC of the temporary projection's name
# A worker's tick may be catching the baseline up when the run asks; the run waits
# for it (the projection is then caught up by whoever holds the lock) this long.
BUSY_WAIT_SECONDS = 600.0


def is_temporary(name: str) -> bool:
    """Names under the reserved prefix belong to simulations; never make one yourself."""
    return name.startswith(RESERVED_PREFIX)


def _lock_key(name: str) -> int:
    """The advisory lock a run holds on its temporary projection, taken before creating it."""
    return _LOCK_BASE + zlib.crc32(name.encode("utf-8"))


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
