"""A turn, the gateway's hot path as one service: append one message and answer its
session's context within a budget, as the active projection holds it once folded.

The answer is given ahead of the fold where the fold's decision can be made in memory
(`projections.ahead`: the common case, a message after other messages); otherwise the
turn waits until the projection holds its message.

Any edge calls `take_turn` (the HTTP API's POST /v1/turns today); it authorizes and
renders, nothing more. Read-your-writes is the contract: the context holds the
message just appended and everything before it, or the turn is refused
(PROJECTION_LAGGING) after the message is safely in the log, so a retry is a
duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from eventlog.appending import Admit, prepare
from eventlog.events import Event
from eventlog.store import EventStore
from eventlog.tokens import check_encoding
from projections.ahead import answer_ahead
from projections.consistency import wait_for
from projections.context import Context, ContextAssembler
from projections.errors import ContextError, ProjectionError
from projections.following import Follower
from projections.queries import resolve_in_projection
from projections.registry import ProjectionInfo, get
from projections.sessions import session_of_event

TURN_TYPES = ("message.received", "message.sent", "tool.used")


class TurnRefused(ProjectionError):
    """The turn's event was not appended: its code says why (the append's own codes)."""

    code = "TURN_REFUSED"


@dataclass(frozen=True, slots=True)
class Turn:
    appended: bool  # False: a duplicate of an event the log holds (a retried delivery)
    event_id: str
    position: int
    session_id: uuid.UUID
    projection: ProjectionInfo
    checkpoint: int  # the log's position the context reflects (the turn's own, if ahead)
    context: Context
    ahead: bool  # answered ahead of the fold (`projections.ahead`), not after waiting


@dataclass(frozen=True, slots=True)
class Bounds:
    """How long a turn may wait for the projection, and how much it may fold itself."""

    timeout: float
    max_lag: int


def check_turn(event: Event, encoding: str | None) -> None:
    """Refuse a turn that could never be taken, before anything is appended."""
    if encoding is not None:
        check_encoding(encoding)
    if event.type not in TURN_TYPES:
        raise TurnRefused(f"a turn appends one of {', '.join(TURN_TYPES)}, not {event.type}; "
                          "send other events with POST /v1/events", code="TURN_NEEDS_MESSAGE")


def take_turn(engine: Engine, store: EventStore, assembler: ContextAssembler, event: Event, *,
              budget: int, bounds: Bounds, tag_senders: bool = False,
              encoding: str | None = None,
              admit_for: Callable[[ProjectionInfo], Admit] | None = None,
              follower: Follower | None = None, ahead_store: EventStore | None = None) -> Turn:
    """Append `event` and answer its session's context in the active projection.

    `admit_for`, given the projection, makes the append's check of the event (a
    fenced reply's lease); a refusal raises TurnRefused with the append's code. With
    `follower` (a server's), the turn waits for its fold instead of folding itself.
    `ahead_store`: the store (and engine) for the append and the answer ahead of the
    fold, if not `store` (a server's plans them once: `workers.api.services`).
    """
    fast = ahead_store or store
    check_turn(event, encoding)
    info = follower.active if follower is not None else None
    if info is None:
        with engine.connect() as conn:
            info = get(conn, None)
    prepared = prepare([event])
    result = fast.append_prepared(
        prepared, admit=admit_for(info) if admit_for is not None else None)
    if result.rejected:
        rejection = result.rejected[0]
        raise TurnRefused(rejection.reason, code=rejection.code)
    event_id = prepared[0].event_id
    position = result.positions[event_id]
    if encoding is None:
        # Autocommit: no BEGIN and ROLLBACK round trips. The reads need no transaction:
        # the first one's snapshot is checked by the ones after it (`projections.ahead`).
        with fast.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            ahead = answer_ahead(conn, info, assembler, event, position, budget=budget,
                                 tag_senders=tag_senders, max_tail=bounds.max_lag)
        if ahead is not None:
            return Turn(event_id in result.fresh, event_id, position, ahead.session_id, info,
                        position, ahead.context, ahead=True)
    checkpoint = wait_for(engine, store, info, position, timeout=bounds.timeout,
                          max_lag=bounds.max_lag,
                          waiter=follower.wait if follower is not None else None)
    with engine.connect() as conn:
        session_id = session_of_event(conn, info.id, position, (
            event.agent, event.platform, event.account, event.chat, event.message_id))
        key = None
        if session_id is None:  # a reset trigger opens a session it does not enter
            placed = resolve_in_projection(conn, info, event)
            session_id, key = placed.session_id, placed.resolution.key
        try:
            context = assembler.assemble(conn, info.id, session_id, budget=budget,
                                         tag_senders=tag_senders, encoding=encoding)
        except ContextError as error:
            if error.code != "UNKNOWN_SESSION" or key is None:
                raise
            context = Context(session_id, key, budget, None)
    return Turn(event_id in result.fresh, event_id, position, session_id, info, checkpoint,
                context, ahead=False)
