"""Sessions: pages, one session, its context (read-your-writes), resolve, summaries, reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from eventlog.access import Principal
from eventlog.edge import MAX_POSITION
from eventlog.events import Rejection, parse_event
from eventlog.tokens import check_encoding
from projections.consistency import checkpoint_of
from projections.queries import resolve_in_projection
from projections.session_events import reset_event, summary_event
from projections.sessions import Session, SessionFilter
from projections.sessions import list_sessions as page_of_sessions
from workers.api.auth import IngestReader, Reader
from workers.api.intake import Parsed, append_parsed
from workers.api.problems import ERROR_RESPONSES, ApiError
from workers.api.schemas import (
    ENCODING_HELP,
    AppendedOne,
    ContextResponse,
    ResetRequest,
    ResolveRequest,
    ResolveResponse,
    SessionModel,
    SessionPage,
    SummaryRequest,
)
from workers.api.scoped import context_response, scoped_session, settled_session
from workers.api.services import Api, Services

router = APIRouter(prefix="/v1", tags=["sessions"], responses=ERROR_RESPONSES)
ProjectionName = Annotated[str | None, Query(max_length=63,
                                             description="default: the active projection")]
AFTER_HELP = ("a position an append returned: the answer then reflects every event up to it, "
              "or is a 503 with Retry-After")
_PROBE = {"occurred_at": "1970-01-01T00:00:00Z", "message_id": "resolve-probe", "text": ""}


def _model(row: Session) -> SessionModel:
    return SessionModel.model_validate(row.as_dict())


@router.get("/sessions", response_model=SessionPage, summary="Sessions, newest activity first")
def list_sessions(
    principal: Reader,
    api: Api,
    projection: ProjectionName = None,
    agent: Annotated[str | None, Query(max_length=512)] = None,
    key_prefix: Annotated[str | None, Query(max_length=2048)] = None,
    participant: Annotated[str | None, Query(max_length=512)] = None,
    needs_summary: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description=AFTER_HELP)] = None,
) -> SessionPage:
    agents = principal.agent_list()
    if agent is not None:
        agents = [agent] if principal.allows(agent) else []
    wanted = SessionFilter(agents=agents, key_prefix=key_prefix, participant=participant,
                           needs_summary=needs_summary)
    info = api.projection(projection)
    source = api.reads.stale_ok()
    if after is not None:  # the standby once it has replayed the fold, else the primary
        api.projected(info, after)
        source = api.reads.current()
    with source.connect() as conn:
        page = page_of_sessions(conn, info.id, wanted, cursor=cursor, limit=limit)
    return SessionPage(projection=info.name, sessions=[_model(r) for r in page.sessions],
                       next_cursor=page.next_cursor)


@router.get("/sessions/{session:path}/context", response_model=ContextResponse,
            summary="A session's context within a budget; with `after`, read-your-writes")
def get_context(
    session: str,
    principal: Reader,
    api: Api,
    budget: Annotated[int, Query(ge=0, le=10_000_000)] = 8_000,
    as_of: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
    tag_senders: bool = False,
    after: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description=AFTER_HELP)] = None,
    projection: ProjectionName = None,
    encoding: Annotated[str | None, Query(max_length=32, description=ENCODING_HELP)] = None,
) -> ContextResponse:
    if encoding is not None:
        check_encoding(encoding)
    info = api.projection(projection)
    checkpoint: int | None = None
    if after is not None:
        checkpoint = api.projected(info, after)
    if encoding is not None:  # another encoding may count what is missing: a write
        source = api.engine
    elif after is not None:  # the standby once it has replayed the fold, else the primary
        source = api.reads.current()
    else:
        source = api.reads.stale_ok()
    if checkpoint is None:
        checkpoint = checkpoint_of(source, info.id)
    row, source = settled_session(source, api.engine, info, session, principal,
                                  lambda: api.settle(info))
    with source.connect() as conn:
        context = api.assembler.assemble(conn, info.id, row.session_id, budget=budget,
                                         as_of=as_of, tag_senders=tag_senders,
                                         encoding=encoding)
    return context_response(context, info, checkpoint)


@router.get("/sessions/{session:path}", response_model=SessionModel,
            summary="One session by id or key")
def get_session(
    session: str,
    principal: Reader,
    api: Api,
    projection: ProjectionName = None,
) -> SessionModel:
    info = api.projection(projection)
    return _model(settled_session(api.reads.stale_ok(), api.engine, info, session, principal,
                                  lambda: api.settle(info))[0])


@router.post("/resolve", response_model=ResolveResponse,
             summary="The session an event would land in, and why")
def post_resolve(body: ResolveRequest, principal: Reader,
                 api: Api) -> ResolveResponse:
    data = body.event
    probe: dict[str, Any] = {"type": "message.received", **_PROBE}
    event = parse_event({**probe, **data}, max_text_chars=api.settings.max_text_chars)
    if isinstance(event, Rejection):
        raise ApiError(422, event.code, f"the event is invalid: {event.reason}")
    if not principal.allows(event.agent):
        raise ApiError(403, "AGENT_NOT_IN_SCOPE",
                       f"token {principal.name!r} may not read agent {event.agent!r}")
    info = api.projection(body.projection)
    with api.engine.connect() as conn:
        placed = resolve_in_projection(conn, info, event)
    return ResolveResponse.model_validate(placed.as_dict())


def _append_one(api: Services, principal: Principal, data: dict[str, Any]) -> AppendedOne:
    event = parse_event(data, max_text_chars=api.settings.max_text_chars)
    if isinstance(event, Rejection):
        raise ApiError(422, event.code, f"the event is invalid: {event.reason}")
    result = append_parsed(api, principal, Parsed([event], [1], [])).results[0]
    if result.status == "rejected" or result.position is None or result.event_id is None:
        status = 409 if result.code == "ID_CONFLICT" else 422
        raise ApiError(status, result.code or "INVALID_EVENT", result.reason or "refused")
    return AppendedOne(status="appended" if result.status == "appended" else "duplicate",
                       event_id=result.event_id, position=result.position)


@router.post("/sessions/{session:path}/summaries", response_model=AppendedOne,
             summary="Record a summary of the session up to a position")
def post_summary(
    session: str,
    body: SummaryRequest,
    principal: IngestReader,
    api: Api,
    projection: ProjectionName = None,
) -> AppendedOne:
    info = api.projection(projection)
    row = settled_session(api.engine, api.engine, info, session, principal,
                          lambda: api.settle(info))[0]
    waited = row.last_position < body.covers_position <= api.store.horizon()
    if waited:  # a span that ends past what is folded: a turn answered ahead of the fold
        api.projected(info, body.covers_position)
    with api.engine.connect() as conn:
        if waited:
            row = scoped_session(conn, info, session, principal)
        data = summary_event(conn, api.store, row, body.covers_position, body.text, body.id)
    return _append_one(api, principal, data)


@router.post("/sessions/{session:path}/reset", response_model=AppendedOne,
             summary="Start a new epoch of the session, as /reset typed in its chat would")
def post_reset(
    session: str,
    body: ResetRequest,
    principal: IngestReader,
    api: Api,
    projection: ProjectionName = None,
) -> AppendedOne:
    info = api.projection(projection)
    row = settled_session(api.engine, api.engine, info, session, principal,
                          lambda: api.settle(info))[0]
    with api.engine.connect() as conn:
        made = reset_event(conn, api.store, info.id, row, body.id)
    if isinstance(made, tuple):  # a retried reset the log already holds
        return AppendedOne(status="duplicate", event_id=made[0], position=made[1])
    return _append_one(api, principal, made)
