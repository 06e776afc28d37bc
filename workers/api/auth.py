"""The request check: a bearer token (see `eventlog.access`) read, verified and scoped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from eventlog.access import Principal, Verb
from workers.api.problems import ApiError
from workers.api.services import Services

_bearer = HTTPBearer(auto_error=False, description="a token from `convlog token create`")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    # Async: a token seen lately costs no thread hop; only a lookup goes to a thread.
    if credentials is None:
        raise _unauthorized("this request needs a bearer token: send the header "
                            "`Authorization: Bearer TOKEN`")
    services: Services = request.app.state.services
    secret = credentials.credentials
    principal = services.principals.seen(secret) or await run_in_threadpool(
        services.principals.principal, services.engine, secret)
    if principal is None:
        raise _unauthorized("the bearer token is unknown, revoked or expired; check it was "
                            "copied whole, or create a new one with `convlog token create`")
    request.state.principal = principal
    return principal


def requires(*verbs: Verb) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's principal, which must hold every verb named."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        missing = [verb for verb in verbs if verb not in principal.verbs]
        if missing:
            raise ApiError(403, "VERB_NOT_ALLOWED",
                           f"token {principal.name!r} may not {' or '.join(missing)}; it has "
                           f"{', '.join(sorted(principal.verbs))}",
                           hint="create a token with the verbs this call needs")
        return principal

    return check


# The principals routes ask for, as annotations (FastAPI reads the dependency from them).
Reader = Annotated[Principal, Depends(requires("read"))]
Ingester = Annotated[Principal, Depends(requires("ingest"))]
IngestReader = Annotated[Principal, Depends(requires("ingest", "read"))]
Admin = Annotated[Principal, Depends(requires("admin"))]
