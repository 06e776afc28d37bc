"""One JSON error shape for every 4xx and 5xx: a stable code (the CLI's), a message, a hint."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from eventlog.errors import ConfigurationError, ConvlogError, DatabaseError
from projections.errors import ContextError, PolicyError, ProjectionError, ResolveError

log = logging.getLogger("convlog.http")

RETRY_AFTER_SECONDS = 1


class ErrorBody(BaseModel):
    """Every error response: `code` is stable (the CLI prints the same), `message` says what
    happened and what to do, `hint` is the next step when there is one."""

    code: str = Field(examples=["UNKNOWN_SESSION"])
    message: str
    hint: str | None = None
    details: list[dict[str, Any]] | None = Field(
        default=None, description="Per-problem findings: policy diagnostics, invalid fields.")


class ApiError(ConvlogError):
    """An error only the HTTP edge raises: auth, limits, leases, read-your-writes."""

    code = "API"

    def __init__(self, status: int, code: str, message: str, *, hint: str | None = None,
                 headers: dict[str, str] | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.hint = hint
        self.headers = headers or {}
        self.details = details


# Codes raised below the HTTP layer that need a status other than their class's.
STATUS_BY_CODE = {
    "UNKNOWN_SESSION": 404, "UNKNOWN_PROJECTION": 404, "NO_ACTIVE_PROJECTION": 503,
    "INVALID_BUDGET": 422, "INVALID_PROJECTION_NAME": 422, "SCHEMA_MISSING": 503,
    "STALE_CHECKPOINT": 409, "UNKNOWN_ENCODING": 422, "PROJECTION_LAGGING": 503,
    "POSITION_PAST_HEAD": 422, "ID_CONFLICT": 409, "FENCING_TOKEN_STALE": 409,
    "TURN_NEEDS_MESSAGE": 422, "LEASE_EXPIRED": 409, "LEASE_NOT_FOUND": 404,
    "INVALID_SUMMARY_POSITION": 422,
}
HINTS = {
    "UNAUTHORIZED": "create a token with `convlog token create NAME --agents A --verbs "
                    "ingest,read` and send it as `Authorization: Bearer TOKEN`",
    "UNKNOWN_SESSION": "list the sessions your token may see with GET /v1/sessions",
    "PROJECTION_LAGGING": "retry after the Retry-After seconds; the workers are catching up",
    "DATABASE": "retry: what committed stays, and appends are idempotent",
    "SCHEMA_MISSING": "run `convlog init` against this database",
    "BODY_TOO_LARGE": "split the request; CONVLOG_API_MAX_BODY_BYTES sets the limit",
    "BATCH_TOO_LARGE": "send fewer events per request; CONVLOG_API_MAX_BATCH sets the limit",
    "LEASE_HELD": "retry later or ask with a longer wait_seconds",
    "REQUEST_TIMEOUT": "send the body without pauses; CONVLOG_API_BODY_TIMEOUT sets the limit",
}


def status_for(error: ConvlogError) -> int:
    if isinstance(error, ApiError):
        return error.status
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    if isinstance(error, PolicyError | ResolveError | ContextError):
        return 422
    if isinstance(error, DatabaseError):
        return 503
    if isinstance(error, ConfigurationError):
        return 500
    if isinstance(error, ProjectionError):
        return 409
    return 400


def error_response(status: int, code: str, message: str, *, hint: str | None = None,
                   headers: dict[str, str] | None = None,
                   details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, hint=hint or HINTS.get(code), details=details)
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _convlog_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ConvlogError)
    details: list[dict[str, Any]] | None = None
    if isinstance(error, PolicyError) and error.diagnostics:
        details = [d.as_dict() for d in error.diagnostics]
    if isinstance(error, ApiError):
        return error_response(error.status, error.code, str(error), hint=error.hint,
                              headers=error.headers, details=error.details or details)
    return error_response(status_for(error), error.code, str(error), details=details)


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        details.append({"where": where, "problem": str(item.get("msg", "invalid"))})
    listing = "; ".join(f"{d['where']}: {d['problem']}" for d in details[:5])
    return error_response(422, "INVALID_REQUEST", f"the request is invalid: {listing}",
                          hint="see openapi.json for the request's schema", details=details)


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST",
               415: "UNSUPPORTED_MEDIA_TYPE"}


def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, f"HTTP_{error.status_code}")
    message = str(error.detail)
    if error.status_code == 404:
        message = f"no such path: {request.url.path}; the API lives under /v1 (see openapi.json)"
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(error.status_code, code, message, headers=dict(error.headers or {}))


def _database_error(request: Request, error: Exception) -> JSONResponse:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
    log.warning("database error on %s %s: %s", request.method, request.url.path, reason)
    return error_response(503, "DATABASE", f"the database failed: {reason}; the database is "
                          "unreachable or the connection was lost")


def _unstorable(request: Request, error: Exception) -> JSONResponse:
    # A value no event could hold either (a NUL, half a surrogate pair): nothing matches it.
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
    return error_response(422, "INVALID_VALUE", f"a value in the request cannot be stored or "
                          f"looked up ({reason}); remove NUL characters and lone surrogates")


def _disconnected(request: Request, error: Exception) -> JSONResponse:
    # Nobody is listening for an answer: one line, no traceback, nothing was appended.
    log.info("client disconnected before %s %s was read whole; nothing was done",
             request.method, request.url.path)
    return error_response(400, "CLIENT_DISCONNECTED", "the client went away mid-request")


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The trace goes to the server's log, never into the response.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "INTERNAL", "the server failed on this request; this is a bug "
                          "in convlog (the server's log has the details)",
                          hint="report it with the request that caused it")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ConvlogError, _convlog_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in (OperationalError, InterfaceError):
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(UnicodeEncodeError, _unstorable)
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "no valid bearer token"), (403, "the token lacks the verb or agent"),
        (404, "not found, or outside the token's agents"), (409, "conflict"),
        (413, "body or batch over its limit"), (422, "invalid request"),
        (503, "database unavailable or projection lagging; see Retry-After"),
    )
}
