"""Per-session leases with fencing tokens: one holder per session, expiry frees a crashed one.

A lease row per session is taken by one statement (insert, or update where the old
lease has expired), so two requests can never both win. Fencing tokens come from one
sequence: every grant's token is larger than every earlier grant's, in any session.
An append that carries a token holds the lease row (FOR SHARE) until it commits, so a
new grant waits for it, and an append with an older token than the row's is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text
from starlette.concurrency import run_in_threadpool

from workers.api.problems import ApiError
from workers.tokens import Principal

_POLL_SECONDS = 0.05

_GRANT = text("""
    INSERT INTO session_leases AS l
           (session_id, agent, lease_id, holder, fencing_token, acquired_at, expires_at)
    VALUES (:s, :agent, gen_random_uuid(), :holder, nextval('lease_fencing_tokens'),
            clock_timestamp(), clock_timestamp() + make_interval(secs => :ttl))
    ON CONFLICT (session_id) DO UPDATE
       SET lease_id = EXCLUDED.lease_id, holder = EXCLUDED.holder, agent = EXCLUDED.agent,
           fencing_token = EXCLUDED.fencing_token, acquired_at = EXCLUDED.acquired_at,
           expires_at = EXCLUDED.expires_at
     WHERE l.expires_at <= clock_timestamp()
    RETURNING lease_id, fencing_token, expires_at
""")


@dataclass(frozen=True, slots=True)
class Lease:
    lease_id: uuid.UUID
    session_id: uuid.UUID
    fencing_token: int
    expires_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {"lease_id": str(self.lease_id), "session_id": str(self.session_id),
                "fencing_token": self.fencing_token, "expires_at": self.expires_at}


class LeaseManager:
    """Grants, renews and releases leases; waiters in this process wake on a release."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._released: dict[uuid.UUID, asyncio.Event] = {}

    def try_grant(self, session_id: uuid.UUID, agent: str, holder: str,
                  ttl: float) -> Lease | datetime:
        """The lease, or when the current holder's lease expires."""
        with self.engine.begin() as conn:
            row = conn.execute(_GRANT, {"s": session_id, "agent": agent, "holder": holder,
                                        "ttl": ttl}).first()
            if row is not None:
                return Lease(uuid.UUID(str(row.lease_id)), session_id, row.fencing_token,
                             row.expires_at)
            expires: datetime = conn.execute(text(
                "SELECT expires_at FROM session_leases WHERE session_id = :s"),
                {"s": session_id}).scalar_one()
            return expires

    async def acquire(self, session_id: uuid.UUID, agent: str, holder: str, *, ttl: float,
                      wait: float) -> Lease:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            granted = await run_in_threadpool(self.try_grant, session_id, agent, holder, ttl)
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
        with self.engine.begin() as conn:
            session_id, _ = self._owned(conn, lease_id, principal)
            row = conn.execute(text(
                "UPDATE session_leases SET expires_at = clock_timestamp() "
                "+ make_interval(secs => :ttl) WHERE lease_id = :id "
                "AND expires_at > clock_timestamp() RETURNING fencing_token, expires_at"),
                {"id": lease_id, "ttl": ttl}).first()
        if row is None:
            raise ApiError(409, "LEASE_EXPIRED",
                           f"lease {lease_id} has expired; acquire the session again (another "
                           "holder may have written since, so re-read its context)")
        return Lease(lease_id, session_id, row.fencing_token, row.expires_at)

    async def release(self, lease_id: uuid.UUID, principal: Principal) -> None:
        session_id = await run_in_threadpool(self._release, lease_id, principal)
        released = self._released.pop(session_id, None)  # on the event loop's thread
        if released is not None:
            released.set()

    def _release(self, lease_id: uuid.UUID, principal: Principal) -> uuid.UUID:
        with self.engine.begin() as conn:
            session_id, _ = self._owned(conn, lease_id, principal)
            conn.execute(text("UPDATE session_leases SET expires_at = least(expires_at, "
                              "clock_timestamp()) WHERE lease_id = :id"), {"id": lease_id})
        return session_id

    @staticmethod
    def _owned(conn: Connection, lease_id: uuid.UUID,
               principal: Principal) -> tuple[uuid.UUID, str]:
        row = conn.execute(text("SELECT session_id, agent FROM session_leases "
                                "WHERE lease_id = :id FOR UPDATE"), {"id": lease_id}).first()
        if row is None or not principal.allows(row.agent):
            raise ApiError(404, "LEASE_NOT_FOUND",
                           f"no lease {lease_id}: it was never granted, or the session has been "
                           "leased again since")
        return uuid.UUID(str(row.session_id)), str(row.agent)


def fencing_problem(conn: Connection, session_id: uuid.UUID, token: int) -> str | None:
    """Why an append fenced with `token` must be refused in this session, or None.

    Holds the lease row until the caller's transaction ends, so no grant slips between
    this check and the append.
    """
    current = conn.execute(text("SELECT fencing_token FROM session_leases "
                                "WHERE session_id = :s FOR SHARE"), {"s": session_id}).scalar()
    if current is None:
        return (f"session {session_id} has no lease, so fencing token {token} cannot be "
                "checked; acquire a lease first")
    if token < current:
        return (f"fencing token {token} is stale: session {session_id} was leased again "
                f"(token {current}); drop this reply and re-read the context")
    if token > current:
        return f"fencing token {token} was never granted for session {session_id}"
    return None
