"""Projections over HTTP (admin): list, create and build in the background, activate, roll back."""

from __future__ import annotations

from fastapi import APIRouter, Request

from projections.policy import load_policy
from projections.registry import create, list_projections, rollback
from projections.rescoping import activate_when_caught_up
from projections.status import Status, status
from workers.api.auth import Admin
from workers.api.problems import ERROR_RESPONSES
from workers.api.schemas import (
    Activated,
    ActivateRequest,
    CreateProjection,
    ProjectionStatus,
)
from workers.api.services import Api
from workers.jobs import QueuedJobs

router = APIRouter(prefix="/v1/projections", tags=["projections"], responses=ERROR_RESPONSES)


def _status(value: Status) -> ProjectionStatus:
    return ProjectionStatus.model_validate(value.__dict__)


@router.get("", response_model=list[ProjectionStatus], summary="Every projection's status")
def list_all(principal: Admin,
             api: Api) -> list[ProjectionStatus]:
    with api.engine.connect() as conn:
        names = [p.name for p in list_projections(conn)]
    return [_status(status(api.engine, name)) for name in names]


@router.post("", response_model=ProjectionStatus, status_code=202,
             summary="Create a projection and build it in the background; poll its status")
def create_projection(body: CreateProjection, principal: Admin, api: Api,
                      request: Request) -> ProjectionStatus:
    policy = load_policy(body.policy)
    with api.engine.begin() as conn:
        create(conn, body.name, policy, api.settings.encoding)
    jobs: QueuedJobs = request.app.state.jobs
    jobs.build(body.name, body.activate)  # a job for the workers, not a thread of this one
    return _status(status(api.engine, body.name))


@router.get("/{name}", response_model=ProjectionStatus,
            summary="One projection's progress: checkpoint, horizon, lag")
def show(name: str, principal: Admin,
         api: Api) -> ProjectionStatus:
    return _status(status(api.engine, name))


@router.post("/{name}/activate", response_model=Activated,
             summary="Switch gateways to a caught-up projection in one transaction")
def activate(name: str, body: ActivateRequest, principal: Admin,
             api: Api) -> Activated:
    previous = activate_when_caught_up(api.engine, api.store, name, wait=body.wait)
    return Activated(active=name, previous=previous.name if previous else None)


@router.post("/rollback", response_model=Activated, summary="Reactivate the previous projection")
def roll_back(principal: Admin,
              api: Api) -> Activated:
    with api.engine.begin() as conn:
        left, back_to = rollback(conn)
    return Activated(active=back_to, previous=left)
