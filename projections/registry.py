"""Projections by name: create, look up, activate, roll back, drop; their partitions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from eventlog.encoding_names import DEFAULT_ENCODING
from projections.errors import ProjectionError
from projections.policy import Policy

PARTITIONED_TABLES = (
    "sessions", "session_heads", "session_members", "message_index", "member_changes",
    "session_summaries", "thread_origins",
)
DEFAULT_PROJECTION = "default"


# Notified at commit: a projection became active (payload empty); a projection's
# checkpoint moved (payload "id:checkpoint").
ACTIVATION_CHANNEL = "convlog_activation"
CHECKPOINT_CHANNEL = "convlog_checkpoints"


@dataclass(frozen=True, slots=True)
class ProjectionInfo:
    id: int
    name: str
    policy: Policy
    checkpoint: int
    created_at: datetime
    caught_up_at: datetime | None
    active: bool
    previous: bool


def _info(row: Any) -> ProjectionInfo:
    return ProjectionInfo(
        id=row.id, name=row.name, policy=Policy.model_validate(row.policy),
        checkpoint=row.checkpoint, created_at=row.created_at, caught_up_at=row.caught_up_at,
        active=bool(row.active), previous=bool(row.previous),
    )


_SELECT = """
    SELECT p.id, p.name, p.policy, p.checkpoint, p.created_at, p.caught_up_at,
           (a.projection_id = p.id) AS active, (a.previous_id = p.id) AS previous
      FROM projections p LEFT JOIN active_projection a ON true
"""


def list_projections(conn: Connection) -> list[ProjectionInfo]:
    return [_info(row) for row in conn.execute(text(_SELECT + " ORDER BY p.id"))]


def find(conn: Connection, name: str) -> ProjectionInfo | None:
    row = conn.execute(text(_SELECT + " WHERE p.name = :name"), {"name": name}).first()
    return _info(row) if row is not None else None


def get(conn: Connection, name: str | None = None) -> ProjectionInfo:
    """The named projection, or the active one when name is None."""
    if name is None:
        row = conn.execute(text(_SELECT + " WHERE a.projection_id = p.id")).first()
        if row is None:
            raise ProjectionError("no projection is active; run `convlog init`, or "
                                  "`convlog projection activate NAME`", code="NO_ACTIVE_PROJECTION")
        return _info(row)
    found = find(conn, name)
    if found is None:
        names = ", ".join(p.name for p in list_projections(conn)) or "none"
        raise ProjectionError(f"no projection named {name!r} (there are: {names}); "
                              "see `convlog projection list`", code="UNKNOWN_PROJECTION")
    return found


def create(conn: Connection, name: str, policy: Policy,
           encoding: str = DEFAULT_ENCODING) -> ProjectionInfo:
    """Register a projection and give it its own partition of every session table.

    The projection's encoding is fixed now and stored in its policy: the policy's own,
    else `encoding` (the deployment's, which the caller passes), so its running totals
    never depend on the environment of the process that folds it.
    """
    policy = policy.with_encoding(encoding)
    if not name or len(name) > 63 or not name.replace("-", "").replace("_", "").isalnum():
        raise ProjectionError(f"projection name {name!r} must be 1-63 letters, digits, - or _",
                              code="INVALID_PROJECTION_NAME")
    if find(conn, name) is not None:
        raise _exists(name)
    try:
        # A savepoint, so a name taken by a concurrent create leaves the caller's
        # transaction usable and the error says what happened.
        with conn.begin_nested():
            projection_id = conn.execute(
                text("INSERT INTO projections (name, policy, grouping) "
                     "VALUES (:name, CAST(:policy AS jsonb), :grouping) RETURNING id"),
                {"name": name, "policy": json.dumps(policy.model_dump(mode="json")),
                 "grouping": policy.grouping_fingerprint()},
            ).scalar_one()
    except IntegrityError:
        raise _exists(name) from None
    for table in PARTITIONED_TABLES:
        # Through the owner's function: workers own no table, and a partition needs one.
        conn.execute(text("SELECT convlog_create_partition(:t, :id)"),
                     {"t": table, "id": projection_id})
    return get(conn, name)


def index_partitions(conn: Connection, projection_id: int) -> None:
    """Build the projection's secondary indexes if it has not got them yet.

    A new projection's partitions have only their primary keys, which the fold reads
    through; the indexes the readers use (sessions by key, members by running token
    total) are built in one pass each when its build reaches the head (the catch-up
    calls this in the batch that marks it caught up), rather than row by row during
    the build. Idempotent and cheap once done.
    """
    conn.execute(text("SELECT convlog_index_partitions(:id)"), {"id": projection_id})


def _exists(name: str) -> ProjectionError:
    return ProjectionError(f"a projection named {name!r} exists already; pick another name "
                           "or drop it first", code="PROJECTION_EXISTS")


def ensure_default(conn: Connection, encoding: str = DEFAULT_ENCODING) -> None:
    """After `init`: a default projection under the default policy, active, if none exists."""
    if conn.execute(text("SELECT 1 FROM active_projection")).first() is not None:
        return
    info = (find(conn, DEFAULT_PROJECTION)
            or create(conn, DEFAULT_PROJECTION, Policy(), encoding))
    index_partitions(conn, info.id)  # active from the start: readers need its indexes
    conn.execute(text("INSERT INTO active_projection (projection_id) VALUES (:id)"),
                 {"id": info.id})


def activate(conn: Connection, info: ProjectionInfo) -> ProjectionInfo | None:
    """Make `info` the active projection in one statement; returns the one it replaced."""
    index_partitions(conn, info.id)  # done when it was caught up; this is a look-up
    previous = conn.execute(text(
        "SELECT p.name FROM active_projection a JOIN projections p ON p.id = a.projection_id "
        "FOR UPDATE OF a")).scalar_one_or_none()
    conn.execute(text(
        "INSERT INTO active_projection (projection_id, previous_id) VALUES (:id, NULL) "
        "ON CONFLICT (singleton) DO UPDATE SET previous_id = CASE "
        "  WHEN active_projection.projection_id = EXCLUDED.projection_id "
        "  THEN active_projection.previous_id ELSE active_projection.projection_id END, "
        "projection_id = EXCLUDED.projection_id, activated_at = now()"), {"id": info.id})
    _notify_activation(conn)
    return find(conn, previous) if previous is not None and previous != info.name else None


def rollback(conn: Connection) -> tuple[str, str]:
    """Swap the active projection with the previous one; returns (from, to) names."""
    row = conn.execute(text(
        "SELECT a.projection_id, a.previous_id, cur.name AS current, prev.name AS previous "
        "FROM active_projection a JOIN projections cur ON cur.id = a.projection_id "
        "LEFT JOIN projections prev ON prev.id = a.previous_id FOR UPDATE OF a")).first()
    if row is None or row.previous_id is None:
        raise ProjectionError("there is no previous projection to roll back to",
                              code="NOTHING_TO_ROLL_BACK")
    conn.execute(text("UPDATE active_projection SET projection_id = previous_id, "
                      "previous_id = projection_id, activated_at = now()"))
    _notify_activation(conn)
    return row.current, row.previous


def _notify_activation(conn: Connection) -> None:
    """Followers (`projections.following`) switch at the commit, not at their next tick."""
    conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": ACTIVATION_CHANNEL})


def previous_projection(conn: Connection) -> ProjectionInfo | None:
    """The projection `rollback` would make active again, if there is one."""
    row = conn.execute(text(_SELECT + " WHERE a.previous_id = p.id")).first()
    return _info(row) if row is not None else None


def drop(conn: Connection, info: ProjectionInfo, *, timeout_seconds: float = 30.0,
         on_wait: Callable[[list[int]], None] | None = None) -> None:
    """Remove a projection's partitions and row, once no projector is working on it.

    A projector (or a parallel build's slices) holds the projector lock; drop
    waits for it at most `timeout_seconds`, calling `on_wait` with the holders'
    backend PIDs first, and then fails naming them instead of hanging.
    """
    if info.active:
        raise ProjectionError(f"{info.name!r} is the active projection; activate another "
                              "before dropping it", code="PROJECTION_ACTIVE")
    key = projector_lock_key(info.id)
    # lock_timeout bounds the wait for the projector lock and for readers of the
    # partitions alike; 0 would mean "forever" to PostgreSQL, so 0 s means 1 ms.
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"),
                 {"t": f"{max(int(timeout_seconds * 1000), 1)}ms"})
    holders: list[int] = []
    free = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar()
    if not free:
        holders = lock_holders(conn, key)
        if on_wait is not None:
            on_wait(holders)
    waiting_for_projector = not free
    try:
        if not free:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        waiting_for_projector = False
        for table in PARTITIONED_TABLES:
            conn.execute(text("SELECT convlog_drop_partition(:t, :id)"),
                         {"t": table, "id": info.id})
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        what = (f"its projector lock, held by {describe_holders(holders)} (a catch-up or "
                "build in progress)" if waiting_for_projector else "readers of its session tables")
        raise ProjectionError(
            f"dropping {info.name!r} waited {timeout_seconds:g}s for {what}; stop that "
            "process or let it finish, then drop again (from psql, SELECT "
            "pg_terminate_backend(PID) stops a backend)", code="PROJECTION_BUSY") from None
    conn.execute(text("UPDATE active_projection SET previous_id = NULL "
                      "WHERE previous_id = :id"), {"id": info.id})
    conn.execute(text("DELETE FROM projections WHERE id = :id"), {"id": info.id})


def unlock_all(conn: Connection) -> None:
    """Release every session advisory lock `conn` holds (a projector's, a build's).

    Whatever transaction is open is rolled back first; a connection that died took its
    locks with it and is invalidated.
    """
    try:
        conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
        conn.commit()
    except SQLAlchemyError:
        conn.invalidate()


def lock_holders(conn: Connection, key: int) -> list[int]:
    """Backend PIDs holding the advisory lock `key` (in any mode), for messages."""
    return [pid for (pid,) in conn.execute(text(
        "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo "
        # Advisory locks are per database; pg_locks shows the whole cluster's.
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "ORDER BY pid"),
        {"hi": key >> 32, "lo": key & 0xFFFFFFFF})]


def describe_holders(pids: list[int]) -> str:
    if not pids:
        return "another process"
    return "backend PID" + ("s " if len(pids) > 1 else " ") + ", ".join(map(str, pids))


def projector_lock_key(projection_id: int) -> int:
    """The advisory lock that admits one projector per projection at a time."""
    return 0x636C700000000000 + projection_id


def slice_lock_key(projection_id: int, index: int) -> int:
    """The lock one slice of a parallel rebuild holds."""
    return 0x636C710000000000 + projection_id * 4096 + index
