"""Request and response models of the HTTP API; events and policies keep their own models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from eventlog.edge import MAX_POSITION

# An event travels as a plain object so that a bad one is refused by the log's own parser,
# with the log's own codes; the schema shown to clients is the event model's.
# (app.py turns the marker into a reference to the model's schema in the OpenAPI document).
MODEL_MARKER = "x-convlog-model"
EventObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object", MODEL_MARKER: "Event"})]
PolicyObject = Annotated[dict[str, Any],
                         WithJsonSchema({"type": "object", MODEL_MARKER: "Policy"})]
Position = Annotated[int, Field(ge=0, le=MAX_POSITION)]
Budget = Annotated[int, Field(ge=0, le=10_000_000, description="tokens")]
ENCODING_HELP = ("count tokens (and the budget) in this encoding, e.g. cl100k_base or "
                 "o200k_base; default: the projection's")
Encoding = Annotated[str | None, Field(max_length=32, description=ENCODING_HELP)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=512)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- appending ----------------------------------------------------------------------------


class EventResult(BaseModel):
    """What became of one line (NDJSON) or array item (JSON), numbered from 1."""

    line: int
    status: Literal["appended", "duplicate", "rejected"]
    event_id: str | None = None
    position: int | None = Field(default=None, description="where the event is in the log")
    code: str | None = Field(default=None, description="why it was rejected (docs/events.md)")
    reason: str | None = None


class AppendResponse(BaseModel):
    appended: int
    duplicates: int
    rejected: int
    last_position: int | None = Field(
        default=None, description="the highest position of this request's events: pass it as "
        "`after` to read your writes")
    results: list[EventResult]


class AppendedOne(BaseModel):
    status: Literal["appended", "duplicate"]
    event_id: str
    position: int


class TurnRequest(Strict):
    event: EventObject
    budget: Budget = 8_000
    tag_senders: bool = False
    encoding: Encoding = None
    fencing_token: Position | None = Field(
        default=None, description="for message.sent: the lease's fencing token; refused if stale")


class ContextMessage(BaseModel):
    """A chat message as LLM APIs take it, with where it came from in `source`."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None
    name: str | None = None
    source: dict[str, Any]
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class TokenTotals(BaseModel):
    summary: int
    messages: int
    total: int


class LeftOut(BaseModel):
    messages: int
    tokens: int
    summary: bool


class ContextResponse(BaseModel):
    session_id: str
    key: str
    projection: str
    budget: int
    as_of: int | None
    checkpoint: int = Field(description="the log's position this answer reflects: the "
                            "projection's checkpoint, or a turn's own position when the turn "
                            "was answered ahead of the fold")
    tokens: TokenTotals
    left_out: LeftOut
    inherited_from: str | None
    messages: list[ContextMessage]


class TurnResponse(AppendedOne):
    session_id: str
    projection: str
    context: ContextResponse


# -- sessions -----------------------------------------------------------------------------


class ResolveRequest(Strict):
    event: EventObject = Field(description="an event; type, occurred_at, message_id and text "
                               "may be left out, as with `convlog resolve`")
    projection: str | None = Field(default=None, max_length=63)


class ResolveResponse(BaseModel):
    projection: str
    session_id: str
    epoch: int
    key: str
    legacy: dict[str, str]
    reasons: list[str]
    is_thread: bool
    parent_key: str | None
    reset_trigger: bool
    via_reply: bool


class SessionModel(BaseModel):
    session_id: str
    key: str
    agent: str
    platform: str
    epoch: int
    started_by: str
    messages: int
    tokens: int
    participants: list[str]
    chats: list[str]
    first_at: datetime
    last_at: datetime
    first_position: int
    last_position: int
    needs_summary: bool
    summary_reason: str | None
    legacy_keys: dict[str, str]
    parent_session_id: str | None


class SessionPage(BaseModel):
    projection: str
    sessions: list[SessionModel]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at "
                                    "the end")


class SummaryRequest(Strict):
    text: str = Field(min_length=1, max_length=200_000)
    covers_position: Position = Field(description="the last position the summary covers")
    id: IdempotencyKey | None = Field(default=None, description="makes a retry a duplicate")


class ResetRequest(Strict):
    id: IdempotencyKey | None = Field(default=None, description="makes a retry a duplicate")


# -- leases -------------------------------------------------------------------------------


class LeaseRequest(Strict):
    ttl_seconds: float = Field(default=30.0, ge=0.5, le=3600)
    wait_seconds: float = Field(default=0.0, ge=0, le=600,
                                description="wait this long for a holder to release; then 409")


class RenewRequest(Strict):
    ttl_seconds: float = Field(default=30.0, ge=0.5, le=3600)


class LeaseResponse(BaseModel):
    lease_id: str
    session_id: str
    fencing_token: int = Field(description="grows with every grant; send it with message.sent")
    expires_at: datetime


# -- projections and health -----------------------------------------------------------------


class ProjectionStatus(BaseModel):
    name: str
    active: bool
    state: str
    checkpoint: int
    horizon: int
    lag_events: int
    lag_seconds: float
    sessions: int
    tokens: int


class CreateProjection(Strict):
    name: str = Field(min_length=1, max_length=63)
    policy: PolicyObject = Field(default_factory=dict)
    activate: bool = Field(default=False, description="activate once the build has caught up")


class ActivateRequest(Strict):
    wait: bool = Field(default=False, description="catch up first, then switch")


class Activated(BaseModel):
    active: str
    previous: str | None


class Health(BaseModel):
    status: Literal["ok"]


class ProjectionLag(BaseModel):
    name: str
    active: bool
    lag_events: int
    lag_seconds: float


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    database: bool
    schema_current: bool
    problems: list[str]
    projections: list[ProjectionLag]
