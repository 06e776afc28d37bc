"""POST /v1/turns without FastAPI's per-request machinery, for the requests that need none.

A gateway sends every message it receives as a turn, so whatever FastAPI does for each
request is paid on the hot path: its middleware stack, the router's match, resolving
the route's dependencies, reading and validating the body. `TurnShortcut` answers a
turn that needs none of it: POST /v1/turns with a JSON body that validates as a
TurnRequest and a bearer token this process has seen lately that may ingest and
read. It answers with the route's own function (`answer_turn`), and renders an error
raised there with the app's own handlers, so the answer is the route's. Anything else
(a token to look up, a body to refuse, another path) goes on to the app with the body
as read, and is answered by the route, refusals included.
"""

from __future__ import annotations

import inspect
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workers.api.routes_events import answer_turn, router
from workers.api.schemas import TurnRequest
from workers.api.services import Services

TURN_PATH = "/v1/turns"
VERBS = ("ingest", "read")
# The route the app's router would have chosen: in the scope, it names the latency
# histogram's route as for a turn the route answers.
TURN_ROUTE: BaseRoute = next(route for route in router.routes
                             if getattr(route, "path", None) == TURN_PATH)


def bearer(scope: Scope) -> str | None:
    """The bearer token of the request's first Authorization header, as FastAPI's
    HTTPBearer reads it; None without one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


def json_body(scope: Scope) -> bool:
    """Whether the request says its body is JSON (what the route parses as such)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


class TurnShortcut:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != TURN_PATH or scope["method"] != "POST"
                or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        api: Services = scope["app"].state.services
        secret = bearer(scope)
        principal = api.principals.seen(secret) if secret is not None else None
        if (principal is None or not all(verb in principal.verbs for verb in VERBS)
                or not json_body(scope)):
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        request: TurnRequest | None = None
        try:
            body = await _body(receive, read)
            request = None if body is None else _turn_request(body)
            if request is not None:
                scope["route"] = TURN_ROUTE
                response = await run_in_threadpool(answer_turn, request, principal, api)
        except Exception as error:
            handled = await _handled(scope, receive, error)
            if handled is None:
                raise
            response = handled
        else:
            if request is None:  # the route refuses it, in its own words
                await self.app(scope, _replay(read, receive), send)
                return
        await response(scope, receive, send)


async def _body(receive: Receive, read: list[Message]) -> bytes | None:
    """The whole body, every message kept in `read`; None if the client went away."""
    chunks = []
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _turn_request(body: bytes) -> TurnRequest | None:
    try:
        return TurnRequest.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _replay(read: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        return read.pop(0) if read else await receive()
    return replay


async def _handled(scope: Scope, receive: Receive, error: Exception) -> Response | None:
    """The app's answer to `error`, as its exception handlers give it; None for what only
    its outermost handler answers (an unexpected error: 500, logged there)."""
    handlers: dict[Any, Any] = scope["app"].exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        handler = handlers.get(kind)
        if handler is not None:
            answer = handler(Request(scope, receive), error)
            response: Response = await answer if inspect.isawaitable(answer) else answer
            return response
    return None
