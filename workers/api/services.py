"""What every request uses: settings, the engine and store, the context assembler, leases,
and where reads go (the primary, or a hot standby: eventlog.replica)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, make_url

from eventlog.access import PrincipalCache
from eventlog.database import resolve_url
from eventlog.errors import DatabaseError
from eventlog.replica import Reads, check_standby, standby_engine, standby_url
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.consistency import ensure_appended, settle, wait_until_projected
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
    reads: Reads  # analysts' reads: the standby when CONVLOG_READ_DATABASE_URL is set
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    follower: Follower | None = None  # while the app runs: folds for every turn
    # A turn's append and its answer ahead of the fold, on connections of their own that
    # plan each statement once (`_plan_once`); None: the store's.
    turn_store: EventStore | None = None

    def projection(self, name: str | None) -> ProjectionInfo:
        """The projection a request names, else the active one (UNKNOWN_PROJECTION)."""
        if name is None and self.follower is not None and self.follower.active is not None:
            return self.follower.active
        with self.engine.connect() as conn:
            return get(conn, name)

    def projected(self, info: ProjectionInfo, position: int) -> int:
        """Read-your-writes: `info`'s checkpoint once at or past `position` (an append's),
        folded here if the projector is free; POSITION_PAST_HEAD, PROJECTION_LAGGING."""
        ensure_appended(self.store, position)
        return wait_until_projected(self.engine, self.store, info, position,
                                    timeout=self.settings.api_consistency_timeout,
                                    max_lag=self.settings.api_catch_up_max_lag)

    def settle(self, info: ProjectionInfo) -> None:
        """`info` brought up to the log's head, if behind (`projections.consistency.settle`):
        for a session look-up that found nothing, before it looks again."""
        settle(self.engine, self.store, info, timeout=self.settings.api_consistency_timeout,
               max_lag=self.settings.api_catch_up_max_lag)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.reads.close()
        self.engine.dispose()
        if self.turn_store is not None:
            self.turn_store.engine.dispose()


def build_services(settings: ApiSettings) -> Services:
    # The server's own engine: its pool is sized for concurrent requests, not for one CLI
    # verb. No ping per checkout (a round trip on every request's every connection): a
    # connection the server dropped fails its request with a retryable 503 and the pool
    # is invalidated, and connections are renewed every few minutes anyway. Every
    # connection it opens is kept (up to twice the setting, as many as it may open): an
    # overflow connection would be closed as it came back and opened again for the next
    # busy moment, and 32 busy chats opened one every three or four turns, each a new
    # backend with cold caches.
    pool = {"pool_pre_ping": False, "pool_recycle": 300,
            "pool_size": 2 * settings.api_pool_size, "max_overflow": 0, "pool_timeout": 10}
    url = resolve_url(settings)
    engine = create_engine(url, **pool)
    counter = TokenCounter(settings.encoding)
    turns = create_engine(url, **pool, connect_args=_plan_once(url))
    return Services(settings, engine, EventStore(engine, counter), ContextAssembler(counter),
                    LeaseManager(engine), Metrics(engine), _reads(settings, engine, pool),
                    turn_store=EventStore(turns, counter))


def _plan_once(url: str) -> dict[str, Any]:
    """Connection options for a turn's statements (its append, and its answer ahead of the
    fold): prepared at their first use and planned once, generically.

    They are few and fixed, and each finds its rows by key, so one plan serves every
    value. Left to choose, PostgreSQL plans most of them again on every execution (a
    plan for all of a partitioned table's partitions looks dearer than one for the
    partition a value names), and planning was a quarter of the database's time under
    32 busy chats. No JIT: a generic plan's estimates may look dear enough to compile it,
    which costs more than any of these statements. Other requests keep the server's
    choice.
    """
    options = make_url(url).query.get("options", "")
    if not isinstance(options, str):
        options = " ".join(options)
    return {"prepare_threshold": 0,
            "options": f"{options} -c plan_cache_mode=force_generic_plan -c jit=off".strip()}


def _reads(settings: ApiSettings, engine: Engine, pool: dict[str, Any]) -> Reads:
    """The standby's engine, pooled as the primary's. A read URL that reaches another
    database is refused; an unreachable standby is only logged: the primary serves every
    read while it does not answer (`Reads`)."""
    url = standby_url(settings)
    if url is None:
        return Reads(engine)
    standby = standby_engine(url, **pool)
    try:
        check_standby(engine, standby)
    except DatabaseError as error:
        logging.getLogger("convlog.replica").warning("%s", error)
    return Reads(engine, standby, timeout=settings.read_replica_timeout)


async def services(request: Request) -> Services:  # async: no thread hop for a lookup
    found: Services = request.app.state.services
    return found


Api = Annotated[Services, Depends(services)]
