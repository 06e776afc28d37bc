"""Per-session leases: acquire (waiting up to wait_seconds, else 409), renew, release."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from eventlog.access import Principal
from projections.leases import Lease
from projections.registry import get
from projections.sessions import Session
from workers.api.auth import Ingester
from workers.api.problems import ERROR_RESPONSES
from workers.api.schemas import LeaseRequest, LeaseResponse, RenewRequest
from workers.api.scoped import settled_session
from workers.api.services import Api, Services

router = APIRouter(prefix="/v1", tags=["leases"], responses=ERROR_RESPONSES)


def _response(lease: Lease) -> LeaseResponse:
    return LeaseResponse.model_validate(lease.as_dict())


def _session(api: Services, ref: str, principal: Principal) -> Session:
    with api.engine.connect() as conn:
        info = get(conn, None)
    return settled_session(api.engine, api.engine, info, ref, principal,
                           lambda: api.settle(info))[0]


@router.post("/sessions/{session:path}/lease", response_model=LeaseResponse,
             summary="Hold the session: one holder at a time; a second waits or gets 409")
async def acquire_lease(session: str, body: LeaseRequest,
                        principal: Ingester,
                        api: Api) -> LeaseResponse:
    row = await run_in_threadpool(_session, api, session, principal)
    lease = await api.leases.acquire(row.session_id, row.agent, principal.name,
                                     ttl=body.ttl_seconds,
                                     wait=min(body.wait_seconds, api.settings.api_max_wait_seconds))
    return _response(lease)


@router.post("/leases/{lease_id}/renew", response_model=LeaseResponse,
             summary="Extend a lease that has not expired")
def renew_lease(lease_id: uuid.UUID, body: RenewRequest,
                principal: Ingester,
                api: Api) -> LeaseResponse:
    return _response(api.leases.renew(lease_id, principal, body.ttl_seconds))


@router.delete("/leases/{lease_id}", status_code=204, response_class=Response,
               summary="Release a lease (safe to repeat)")
async def release_lease(lease_id: uuid.UUID, principal: Ingester,
                        api: Api) -> Response:
    await api.leases.release(lease_id, principal)
    return Response(status_code=204)
