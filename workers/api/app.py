"""The ASGI app: routers, the error shape, limits and latency at the edge, the OpenAPI document."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventlog.access import TOKENS_CHANNEL
from eventlog.event_fields import fields_required
from eventlog.events import EVENT_TYPES, Event
from eventlog.schema import ERASURES_CHANNEL
from projections.following import Follower
from projections.policy import Policy
from workers.api import (
    problems,
    routes_events,
    routes_health,
    routes_leases,
    routes_projections,
    routes_search,
    routes_sessions,
)
from workers.api.problems import ApiError, error_response
from workers.api.schemas import MODEL_MARKER
from workers.api.services import Services, build_services
from workers.api.shortcut import TurnShortcut
from workers.bootstrap import App
from workers.jobs import QueuedJobs, bind, setup, start_in_process, unbind
from workers.settings import ApiSettings

DESCRIPTION = """\
convlog's HTTP API for chat-agent gateways: append events, get a session's context
(read-your-writes with `after`), hold per-session leases. Every call under /v1 needs
`Authorization: Bearer TOKEN` (`convlog token create`). Every error is
`{"code", "message", "hint"}` with the CLI's codes.
"""


def _version() -> str:
    try:
        return version("convlog")
    except PackageNotFoundError:
        return "0"


class EdgeMiddleware:
    """Body limit (413 BODY_TOO_LARGE) and the latency histogram, for every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api: Services = scope["app"].state.services
        limit = api.settings.api_max_body_bytes
        started = time.perf_counter()
        status = [500]
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(413, "BODY_TOO_LARGE",
                                      f"the body is {int(declared)} bytes, over the limit of "
                                      f"{limit}; nothing was appended")
            await response(scope, receive, send)
            self._observe(api, scope, 413, started)
            return
        seen = [0]

        async def limited_receive() -> Message:
            try:
                # A deadline on this task, not a task of its own as wait_for would start
                # for every piece of every body.
                async with asyncio.timeout(api.settings.api_body_timeout):
                    message = await receive()
            except TimeoutError:
                raise ApiError(408, "REQUEST_TIMEOUT", "the request's body stopped arriving "
                               f"for {api.settings.api_body_timeout:g}s; nothing was "
                               "appended") from None
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise ApiError(413, "BODY_TOO_LARGE", f"the body is over the limit of "
                                   f"{limit} bytes; nothing was appended")
            return message

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, observed_send)
        finally:
            self._observe(api, scope, status[0], started)

    @staticmethod
    def _observe(api: Services, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        api.metrics.latency.labels(method=scope["method"], route=route,
                                   status=str(status)).observe(time.perf_counter() - started)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the event and policy models that request bodies refer to."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, model in (("EventFields", Event), ("Policy", Policy)):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for inner, definition in schema.pop("$defs", {}).items():
                components.setdefault(inner, definition)
            components[name] = schema
        components.update(_event_union(components["EventFields"]))
        app.openapi_schema = _linked(document)
    return app.openapi_schema


def _event_union(fields: dict[str, Any]) -> dict[str, Any]:
    """`Event` as a union discriminated by `type`: one schema per type, each the fields
    (EventFields) with its type fixed and its own required fields, so a client generated
    from the document knows what each type needs."""
    schemas: dict[str, Any] = {}
    mapping = {}
    for event_type in EVENT_TYPES:
        name = "".join(part.title() for part in event_type.split(".")) + "Event"
        schemas[name] = {
            "title": name, "description": f"A {event_type} event.",
            "allOf": [{"$ref": "#/components/schemas/EventFields"}],
            "properties": {"type": {"const": event_type}},
            "required": list(fields_required(event_type))}
        mapping[event_type] = f"#/components/schemas/{name}"
    schemas["Event"] = {
        "title": "Event", "description": fields.get("description", ""),
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
        "examples": fields.get("examples", [])}
    return schemas


def _linked(node: Any) -> Any:
    if isinstance(node, dict):
        if MODEL_MARKER in node:
            return {"$ref": f"#/components/schemas/{node[MODEL_MARKER]}"}
        return {key: _linked(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_linked(value) for value in node]
    return node


def create_app(settings: ApiSettings | None = None, *,
               built: Services | None = None) -> FastAPI:
    """The app; its database engine is made at startup, so building it needs no database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = app.state.services = built or build_services(settings or ApiSettings())
        # One folder for every turn of this process (projections.following). It also
        # hears revocations (the tokens seen lately are forgotten) and erasures (the
        # members this process rendered and kept are let go: an erased one would never
        # be served from there, its row reads otherwise, but need not stay in memory).
        follower = services.follower = Follower(
            services.engine, services.store, {TOKENS_CHANNEL: services.principals.forget,
                                              ERASURES_CHANNEL: services.assembler.forget_rendered},
            folds=not services.settings.api_separate_folder)
        follower.start()
        # Builds are jobs: a broker's workers take them, or (no broker) this process's own
        # worker, started here once, never by a route.
        broker, jobs = setup(services.settings)
        worker = start_in_process(broker)
        context = bind(App(services.settings, services.engine, services.store))
        app.state.jobs = QueuedJobs(jobs, context)
        try:
            yield
        finally:
            if worker is not None:
                # A build still running is not waited for: it resumes from its
                # checkpoint on the next catch-up (its thread ends with the process).
                worker.stop(timeout=2_000)
            unbind(context)
            follower.stop()
            services.follower = None
            if built is None:
                services.close()

    app = FastAPI(title="convlog", version=_version(), description=DESCRIPTION,
                  lifespan=lifespan, docs_url="/docs", redoc_url=None)
    problems.install(app)
    for module in (routes_events, routes_sessions, routes_leases, routes_projections,
                   routes_search, routes_health):
        app.include_router(module.router)
    app.add_middleware(TurnShortcut)  # inside the edge's limits and latency histogram
    app.add_middleware(EdgeMiddleware)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
