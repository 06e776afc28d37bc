"""What every request uses: settings, the engine and store, the context assembler, leases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine

from eventlog.access import PrincipalCache
from eventlog.database import resolve_url
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.context import ContextAssembler
from projections.following import Follower
from projections.registry import ProjectionInfo, get
from workers.api.lease_waits import LeaseManager
from workers.api.metrics import Metrics
from workers.settings import ApiSettings


@dataclass
class Services:
    settings: ApiSettings
    engine: Engine
    store: EventStore
    assembler: ContextAssembler
    leases: LeaseManager
    metrics: Metrics
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    follower: Follower | None = None  # while the app runs: folds for every turn

    def projection(self, name: str | None) -> ProjectionInfo:
        """The projection a request names, else the active one (UNKNOWN_PROJECTION)."""
        if name is None and self.follower is not None and self.follower.active is not None:
            return self.follower.active
        with self.engine.connect() as conn:
            return get(conn, name)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.engine.dispose()


def build_services(settings: ApiSettings) -> Services:
    # The server's own engine: its pool is sized for concurrent requests, not for one CLI
    # verb. No ping per checkout (a round trip on every request's every connection): a
    # connection the server dropped fails its request with a retryable 503 and the pool
    # is invalidated, and connections are renewed every few minutes anyway.
    engine = create_engine(resolve_url(settings), pool_pre_ping=False, pool_recycle=300,
                           pool_size=settings.api_pool_size,
                           max_overflow=settings.api_pool_size, pool_timeout=10)
    counter = TokenCounter(settings.encoding)
    return Services(settings, engine, EventStore(engine, counter), ContextAssembler(counter),
                    LeaseManager(engine), Metrics(engine))


async def services(request: Request) -> Services:  # async: no thread hop for a lookup
    found: Services = request.app.state.services
    return found


Api = Annotated[Services, Depends(services)]
