"""What reads share: the projection asked for, a session the token may see, context answers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from eventlog.access import Principal
from projections.consistency import ProjectionLagging
from projections.context import Context
from projections.errors import ContextError
from projections.registry import ProjectionInfo
from projections.rendered import Item
from projections.sessions import Session, find_session, get_session
from workers.api.schemas import ContextResponse


def not_found(ref: str) -> ContextError:
    # The same answer for a session outside the token's agents as for one that does not
    # exist, so a token cannot learn which sessions other agents have.
    return ContextError(f"no session with id or key {ref[:200]!r} that this token may read; "
                        "see GET /v1/sessions", code="UNKNOWN_SESSION")


def scoped_session(conn: Connection, info: ProjectionInfo, ref: str,
                   principal: Principal) -> Session:
    """The session `ref` names, if the token may read it, as `conn` sees the projection."""
    row = _lookup(conn, info, ref)
    if row is None or not principal.allows(row.agent):
        raise not_found(ref)
    return row


def settled_session(source: Engine, primary: Engine, info: ProjectionInfo, ref: str,
                    principal: Principal, settle: Callable[[], None]) -> tuple[Session, Engine]:
    """The session `ref` names, if the token may read it, and where it was found.

    Looked up on `source` (a standby, perhaps). Not found, `settle` brings the projection
    up to the log's head if it is behind (a turn answered ahead of the fold names a
    session not yet folded), holding no connection meanwhile, and the primary is asked
    again, as it is when `source` is a standby that may not have replayed the session
    yet: a gateway may read, hold, summarize or reset its turn's session at once. A
    projection that cannot catch up in time answers as before: not found.
    """
    with source.connect() as conn:
        row = _lookup(conn, info, ref)
    found_on = source
    if row is None:
        with contextlib.suppress(ProjectionLagging):
            settle()
        # Asked again even when nothing was left to settle: the fold may have committed
        # the session between the look-up above and settle's look at the checkpoint.
        with primary.connect() as conn:
            row = _lookup(conn, info, ref)
        found_on = primary
    if row is None or not principal.allows(row.agent):
        raise not_found(ref)
    return row, found_on


def _lookup(conn: Connection, info: ProjectionInfo, ref: str) -> Session | None:
    try:
        session_id = find_session(conn, info.id, ref)
    except ContextError:
        return None
    return get_session(conn, info.id, session_id)


def context_response(context: Context, info: ProjectionInfo, checkpoint: int) -> ContextResponse:
    return ContextResponse.model_validate(
        {**context.as_dict(), "projection": info.name, "checkpoint": checkpoint})


_MESSAGE_DEFAULTS = {"name": None, "tool_calls": None, "tool_call_id": None}


def _wire(message: dict[str, Any]) -> bytes:
    return orjson.dumps({**_MESSAGE_DEFAULTS, **message})


def _encoded(item: Item) -> bytes:
    wire: bytes = b",".join([_wire(message) for message in item.messages])
    item.wire = wire
    return wire


def context_json(context: Context, info: ProjectionInfo, checkpoint: int) -> bytes:
    """A ContextResponse as JSON, for the turn's hot path: the assembler's output is
    already of that shape, so ~200 messages are not validated again on the way out (a
    test holds the two equal), and each member's messages are encoded once, kept with
    the item the assembler keeps for the next context of its session."""
    parts = [item.wire or _encoded(item) for item in context.items]
    if context.summary is not None:
        parts.insert(0, _wire(context.summary_message()))
    head = orjson.dumps({**context.fields(), "projection": info.name,
                         "checkpoint": checkpoint})
    return b"".join((head[:-1], b',"messages":[', b",".join(parts), b"]}"))
