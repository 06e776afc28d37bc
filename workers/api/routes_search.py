"""Search over HTTP: `GET /v1/search`, within the token's agents."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from eventlog.search_index import SearchError, ensure_config, index_batch, lag
from projections.registry import get
from projections.searching import MAX_LIMIT, MAX_QUERY_CHARS, SearchFilter, parse_address, search
from workers.api.auth import Reader
from workers.api.problems import ERROR_RESPONSES, ApiError
from workers.api.scoped import scoped_session
from workers.api.services import Api, Services

router = APIRouter(prefix="/v1", tags=["search"], responses=ERROR_RESPONSES)
Address = Annotated[str | None, Query(max_length=1024, pattern=r"^[^:]+:.+$",
                                      description="PLATFORM:ID")]


class SearchHit(BaseModel):
    """One message that matched: where and when it was said, a snippet, and its session."""

    position: int
    type: str
    occurred_at: datetime
    agent: str
    platform: str
    account: str
    space: str | None
    chat: str | None
    chat_type: str | None
    topic: str | None = Field(description="the thread or forum topic it was said in")
    sender: str | None
    sender_name: str | None
    message_id: str | None
    rank: float
    snippet: str = Field(description="plain text around the matches")
    highlights: list[list[int]] = Field(
        description="[start, end) character ranges of the matches in `snippet`")
    session_id: str | None = Field(description="the session under `projection`; null while "
                                   "the projection has not folded the event")
    session_key: str | None


class SearchResponse(BaseModel):
    projection: str
    query: str
    config: str = Field(description="the text search configuration of the index")
    indexed_upto: int = Field(description="every event up to this position was searched")
    hits: list[SearchHit]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at "
                                    "the end")


def _index_or_refuse(api: Services) -> None:
    """Index what the log holds beyond the index, or answer 503: never a result without it.

    A request indexes the lag itself, CONVLOG_API_CATCH_UP_MAX_LAG events a batch, for up
    to CONVLOG_API_CONSISTENCY_TIMEOUT seconds (the server's folder and the workers keep
    the lag small when they run); still behind by then, it asks the client to retry, so
    a search never misses an event appended before it.
    """
    budget = max(api.settings.api_catch_up_max_lag, 1)
    deadline = time.monotonic() + api.settings.api_consistency_timeout
    with api.engine.connect() as conn:
        behind = lag(conn)
    while behind > 0:
        # Batch by batch, for as long as a read-your-writes request may wait: a search
        # right after a large ingest with no worker is answered, not refused.
        index_batch(api.engine, max_events=budget)
        with api.engine.connect() as conn:
            behind = lag(conn)
        if behind > 0 and time.monotonic() > deadline:
            raise ApiError(503, "SEARCH_INDEX_LAGGING",
                           f"the search index is {behind:,} events behind the log; it is "
                           "being brought up to date, retry in a moment",
                           hint="retry after the Retry-After seconds; the server indexes the "
                                "log when it is quiet, and so do the workers")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/search", response_model=SearchResponse,
            summary="Full-text search over the messages of the token's agents")
def get_search(
    principal: Reader,
    api: Api,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description=(
        "web search syntax: words, \"a phrase\", -excluded, or"))],
    sender: Address = None,
    chat: Address = None,
    space: Address = None,
    agent: Annotated[str | None, Query(max_length=512, description="an agent, or a comma "
                                      "list of agents (within the token's)")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    session: Annotated[str | None, Query(max_length=2048, description="a session id or key")
                       ] = None,
    projection: Annotated[str | None, Query(max_length=63,
                                            description="default: the active projection")
                          ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> SearchResponse:
    agents = principal.agent_list()
    if agent is not None:
        named = sorted({name.strip() for name in agent.split(",") if name.strip()})
        agents = [name for name in named if principal.allows(name)]
    _index_or_refuse(api)
    try:  # the standby once it has replayed the index, else the primary
        with api.reads.current().connect() as conn:
            current = ensure_config(conn, api.settings.search_config)
            info = get(conn, projection)
            session_id = (scoped_session(conn, info, session, principal).session_id
                          if session is not None else None)
            wanted = SearchFilter(
                agents=agents,
                sender=parse_address(sender, "sender", "discord:111") if sender else None,
                chat=parse_address(chat, "chat", "telegram:-100123") if chat else None,
                space=parse_address(space, "space", "discord:123") if space else None,
                since=_utc(since), until=_utc(until), session=session_id)
            page = search(conn, info, q, wanted, config=current.config,
                          indexed_upto=current.indexed_upto, limit=limit, cursor=cursor)
    except SearchError as error:
        status = 503 if error.code == "SEARCH_CONFIG_CHANGED" else 422
        raise ApiError(status, error.code, str(error)) from None
    return SearchResponse.model_validate(page.as_dict())
