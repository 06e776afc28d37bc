"""Waiting for a session's lease on the event loop: the leases themselves (grants, fencing
tokens, expiry) are `projections.leases`; a release in this process wakes its waiters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from eventlog.access import Principal
from projections import leases
from projections.leases import Lease
from workers.api.problems import ApiError

_POLL_SECONDS = 0.05


class LeaseManager:
    """Grants, renews and releases leases; waiters in this process wake on a release."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._released: dict[uuid.UUID, asyncio.Event] = {}

    async def acquire(self, session_id: uuid.UUID, agent: str, holder: str, *, ttl: float,
                      wait: float) -> Lease:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            granted = await run_in_threadpool(leases.try_grant, self.engine, session_id, agent,
                                              holder, ttl)
            if isinstance(granted, Lease):
                return granted
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ApiError(409, "LEASE_HELD",
                               f"session {session_id} is leased by another holder until "
                               f"{granted.isoformat()}; wait for it (wait_seconds) or retry",
                               headers={"Retry-After": "1"})
            # Another process's release is seen at the next poll; this one's at once.
            released = self._released.setdefault(session_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), timeout=min(remaining, _POLL_SECONDS))

    def renew(self, lease_id: uuid.UUID, principal: Principal, ttl: float) -> Lease:
        return leases.renew(self.engine, lease_id, principal.allows, ttl)

    async def release(self, lease_id: uuid.UUID, principal: Principal) -> None:
        session_id = await run_in_threadpool(leases.release, self.engine, lease_id,
                                             principal.allows)
        released = self._released.pop(session_id, None)  # on the event loop's thread
        if released is not None:
            released.set()
