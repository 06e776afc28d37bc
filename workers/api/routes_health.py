"""GET /healthz (the process answers), /readyz (database, schema, projector lag), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from eventlog.database import ping
from eventlog.errors import ConvlogError
from projections.status import projection_lags
from workers.api.metrics import CONTENT_TYPE
from workers.api.schemas import Health, ProjectionLag, Ready
from workers.api.services import Api, Services
from workers.migrate import ensure_current

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The server process answers")
async def healthz() -> Health:
    return Health(status="ok")


def _readiness(api: Services) -> Ready:
    problems: list[str] = []
    database = schema = False
    lags: list[ProjectionLag] = []
    try:
        ping(api.engine)
        database = True
        ensure_current(api.engine)
        schema = True
        with api.engine.connect() as conn:
            lags = [ProjectionLag(name=lag.name, active=lag.active, lag_events=lag.lag_events,
                                  lag_seconds=lag.lag_seconds) for lag in projection_lags(conn)]
    except ConvlogError as error:
        problems.append(f"[{error.code}] {error}")
    except SQLAlchemyError as error:
        problems.append(f"[DATABASE] {str(getattr(error, 'orig', error)).strip()[:300]}")
    if schema and not any(lag.active for lag in lags):
        problems.append("[NO_ACTIVE_PROJECTION] run `convlog init`")
    return Ready(status="not ready" if problems else "ready", database=database,
                 schema_current=schema, problems=problems, projections=lags)


@router.get("/readyz", response_model=Ready,
            responses={503: {"model": Ready, "description": "not ready; `problems` says why"}},
            summary="Ready to serve: the database answers, the schema is current; projector lag")
async def readyz(api: Api) -> JSONResponse:
    ready = await run_in_threadpool(_readiness, api)
    return JSONResponse(ready.model_dump(mode="json"),
                        status_code=200 if ready.status == "ready" else 503)


@router.get("/metrics", response_class=Response, summary="Prometheus exposition",
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}})
async def metrics(api: Api) -> Response:
    body = await run_in_threadpool(api.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE)
