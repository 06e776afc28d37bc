"""Poison events: which fold errors an event is to blame for, how to find it, where it is kept.

A batch whose fold raises is rolled back and folded again in savepoints,
halving the failing part until single events remain: each of those is an
event the fold cannot apply in that state. It is recorded in
`quarantined_events` in the batch's own transaction, so the rows, the
checkpoint and the quarantine commit together and exactly-once holds. Only a
failing batch pays for this; the happy path folds as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from eventlog.envelopes import Envelope
from projections.errors import LockLost, PoisonEvent, StaleCheckpoint, UnfoldableEvent
from projections.projector.interface import BatchFold, FoldOutcome
from projections.projector.state import Quarantined
from projections.resolver import CompiledPolicy

_MESSAGE_CHARS = 500


def blame(error: BaseException) -> tuple[str, str] | None:
    """(code, message) when `error` says something about the events being folded.

    None for what must never be quarantined because it says nothing about an
    event and would not repeat on a rebuild: lost connections, timeouts,
    deadlocks, a missing table or privilege, the loop's own control errors.
    Everything else raised by a fold is deterministic in the events and the
    projection's state, so a rebuild meets it again at the same event.
    """
    if isinstance(error, StaleCheckpoint | LockLost | PoisonEvent | MemoryError):
        return None
    if isinstance(error, UnfoldableEvent):
        return error.code, _first_line(str(error))
    driver = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(driver, psycopg.DataError | psycopg.IntegrityError):
        state = f" (SQLSTATE {driver.sqlstate})" if driver.sqlstate else ""
        return "DATABASE_REFUSED", _first_line(f"the database refused a row{state}: {driver}")
    if isinstance(driver, psycopg.Error) or isinstance(error, SQLAlchemyError):
        return None
    return "FOLD_FAILED", _first_line(f"{type(error).__name__}: {error}")


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "no message"
    return line[:_MESSAGE_CHARS]


@dataclass
class Isolated:
    """What folding a batch event by event (by halves) gave."""

    members: int = 0
    sessions_touched: int = 0
    quarantined: list[Quarantined] | None = None
    stopped_at: Quarantined | None = None  # strict mode: the first poison event

    def outcome(self) -> FoldOutcome:
        return FoldOutcome(self.members, self.sessions_touched)


def fold_isolating(conn: Connection, fold: BatchFold, projection_id: int,
                   policy: CompiledPolicy, events: Sequence[Envelope], *,
                   strict: bool) -> Isolated:
    """Fold `events` in savepoints, isolating each event the fold cannot apply.

    The fold's result does not depend on where batches are cut, so folding the
    halves in order equals folding the whole; a half that fails is halved
    again. With `strict`, the first poison event ends the work: what precedes
    it stays folded and `stopped_at` names it.
    """
    result = Isolated(quarantined=[])
    pending: list[Sequence[Envelope]] = [events]
    while pending:
        chunk = pending.pop()
        try:
            with conn.begin_nested():
                outcome = fold(conn, projection_id, policy, chunk)
        except Exception as error:  # sorted by blame() right below
            reason = blame(error)
            if reason is None:
                raise
            if len(chunk) > 1:
                middle = len(chunk) // 2
                pending.extend((chunk[middle:], chunk[:middle]))  # first half on top
                continue
            poison = Quarantined(chunk[0].position, *reason)
            if strict:
                result.stopped_at = poison
                return result
            assert result.quarantined is not None
            result.quarantined.append(poison)
            continue
        result.members += outcome.members
        result.sessions_touched += outcome.sessions_touched
    return result


Read = Callable[[int, int, int], list[Envelope]]  # (after, limit, upto) -> events


def read_isolating(conn: Connection, read: Read, after: int, limit: int,
                   bound: int) -> tuple[list[Envelope], Quarantined | None]:
    """Read a batch; if one event cannot be loaded, the events before it and that event.

    An event whose stored values the driver cannot load (a time past year 9999,
    say) fails the whole read. Halving the limit finds how many events before
    it can be read; halving the position range after the last of them finds
    its position, using nothing but reads, so a slice's filter stays the store's.
    Only a failing batch gets here; every probe runs in a savepoint.
    """
    first = _attempt(conn, read, after, limit, bound)
    if isinstance(first, list):
        return first, None
    good: list[Envelope] = []
    readable, failing = 0, limit  # read(after, readable) works, read(after, failing) fails
    while failing - readable > 1:
        middle = (readable + failing) // 2
        got = _attempt(conn, read, after, middle, bound)
        if isinstance(got, list):
            readable, good = middle, got
        else:
            failing = middle
    start = good[-1].position if good else after
    # The first event after `start` (in this read's slice) is the one that fails.
    below, at, error = start, bound, first  # read(start, 1, upto=below) is empty
    while at - below > 1:
        middle = (below + at) // 2
        got = _attempt(conn, read, start, 1, middle)
        if isinstance(got, list):
            below = middle
        else:
            at, error = middle, got
    reason = _first_line(f"the event cannot be read: "
                         f"{error.orig if isinstance(error, DBAPIError) else error}")
    return good, Quarantined(at, "UNREADABLE_EVENT", reason)


def _attempt(conn: Connection, read: Read, after: int, limit: int,
             upto: int) -> list[Envelope] | Exception:
    try:
        with conn.begin_nested():
            return read(after, limit, upto)
    except Exception as error:  # sorted by blame() right below
        if blame(error) is None:
            raise
        return error


def record(conn: Connection, projection_id: int, quarantined: Sequence[Quarantined]) -> None:
    """Keep the poison events of a batch, in the batch's transaction."""
    if quarantined:
        conn.execute(text(
            "INSERT INTO quarantined_events (projection_id, position, code, error) "
            "VALUES (:p, :position, :code, :error)"),
            [{"p": projection_id, "position": q.position, "code": q.code, "error": q.error}
             for q in quarantined])
