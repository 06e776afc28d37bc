"""POST /v1/events (batches, idempotent) and POST /v1/turns (append, then the context)."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from eventlog.access import Principal
from eventlog.edge import MAX_POSITION
from eventlog.events import Event, Rejection, parse_event
from eventlog.tokens import check_encoding
from projections.consistency import wait_until_projected
from projections.queries import resolve_in_projection
from projections.registry import ProjectionInfo
from projections.turns import Bounds, TurnRefused, check_turn, take_turn
from workers.api.auth import Ingester, IngestReader
from workers.api.intake import SessionOf, append_parsed, fence, parse_body
from workers.api.problems import ERROR_RESPONSES, ApiError
from workers.api.schemas import MODEL_MARKER, AppendResponse, TurnRequest, TurnResponse
from workers.api.scoped import context_json
from workers.api.services import Api, Services

router = APIRouter(prefix="/v1", tags=["events"], responses=ERROR_RESPONSES)

_EVENTS_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {
            "oneOf": [{"type": "array", "items": {MODEL_MARKER: "Event"}}, {MODEL_MARKER: "Event"}],
            "description": "an array of events (see Event), or one event"}},
        "application/x-ndjson": {"schema": {
            "type": "string", "description": "one event (JSON object) per line"}},
    },
}


@router.post("/events", response_model=AppendResponse, openapi_extra={"requestBody": _EVENTS_BODY},
             summary="Append a batch of events; per-line results; a retry is a duplicate")
async def post_events(
    request: Request,
    principal: Ingester,
    api: Api,
    fencing_token: Annotated[int | None, Query(
        ge=0, le=MAX_POSITION, description="checked for each message.sent: the lease's token "
        "for the session it lands in")] = None,
) -> AppendResponse:
    body = await request.body()
    settings = api.settings

    def work() -> AppendResponse:  # parsing and the database off the event loop
        parsed = parse_body(body, request.headers.get("content-type", ""),
                            max_text_chars=settings.max_text_chars,
                            max_batch=settings.api_max_batch)
        session_of = None
        if fencing_token is not None:
            session_of = fenced_sessions(api, api.projection(None))
        return append_parsed(api, principal, parsed, fencing_token=fencing_token,
                             session_of=session_of).response()

    return await run_in_threadpool(work)


def fenced_sessions(api: Services, info: ProjectionInfo) -> SessionOf:
    """Where each fenced reply lands, once the projection holds every message it may answer."""
    settings = api.settings
    wait_until_projected(api.engine, api.store, info, api.store.horizon(),
                         timeout=settings.api_consistency_timeout,
                         max_lag=settings.api_catch_up_max_lag)

    def session_of(conn: Connection, event: Event) -> uuid.UUID:
        return resolve_in_projection(conn, info, event).session_id

    return session_of


@router.post("/turns", response_model=TurnResponse,
             summary="The gateway's hot path: append one message, get its session's context")
def post_turn(body: TurnRequest, principal: IngestReader,
              api: Api) -> Response:
    return answer_turn(body, principal, api)


def answer_turn(body: TurnRequest, principal: Principal, api: Services) -> Response:
    """The turn's answer, for the route and for its shortcut (`workers.api.shortcut`)."""
    settings = api.settings
    if body.encoding is not None:
        check_encoding(body.encoding)  # before anything is appended
    event = parse_event(body.event, line=1, max_text_chars=settings.max_text_chars)
    if isinstance(event, Rejection):
        api.metrics.rejected.labels(code=event.code).inc()
        raise ApiError(422, event.code, f"the event is invalid: {event.reason}")
    check_turn(event, body.encoding)
    if not principal.allows(event.agent):
        raise ApiError(403, "AGENT_NOT_IN_SCOPE",
                       f"token {principal.name!r} may not write for agent {event.agent!r}")
    token = body.fencing_token
    try:
        turn = take_turn(
            api.engine, api.store, api.assembler, event, budget=body.budget,
            ahead_store=api.turn_store,
            bounds=Bounds(settings.api_consistency_timeout, settings.api_catch_up_max_lag),
            tag_senders=body.tag_senders, encoding=body.encoding,
            admit_for=None if token is None else (
                lambda info: fence(token, fenced_sessions(api, info))), follower=api.follower)
    except TurnRefused as refused:
        api.metrics.rejected.labels(code=refused.code).inc()
        raise
    (api.metrics.appended if turn.appended else api.metrics.duplicates).inc()
    api.metrics.turns.labels(answered="ahead" if turn.ahead else "after_fold").inc()
    # Serialized once, as data: the documented shape is TurnResponse (response_model).
    head = orjson.dumps({
        "status": "appended" if turn.appended else "duplicate", "event_id": turn.event_id,
        "position": turn.position, "session_id": str(turn.session_id),
        "projection": turn.projection.name})
    context = context_json(turn.context, turn.projection, turn.checkpoint)
    return Response(b"".join((head[:-1], b',"context":', context, b"}")),
                    media_type="application/json")
