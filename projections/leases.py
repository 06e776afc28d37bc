"""Per-session leases with fencing tokens: one holder per session, expiry frees a crashed one.

A lease row per session is taken by one statement (insert, or update where the old
lease has expired), so two callers can never both win. Fencing tokens come from one
sequence: every grant's token is larger than every earlier grant's, in any session.
An append that carries a token holds the lease row (FOR SHARE) until it commits, so a
new grant waits for it, and an append with an older token than the row's is refused.
Waiting for a held lease is the edge's business (the HTTP API waits on the event loop).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from projections.errors import ProjectionError

# Whether the caller may act for an agent (a token's scope).
Allows = Callable[[str], bool]


class LeaseError(ProjectionError):
    """A lease that cannot be renewed or released as asked."""

    code = "LEASE"


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


def try_grant(engine: Engine, session_id: uuid.UUID, agent: str, holder: str,
              ttl: float) -> Lease | datetime:
    """The lease, or when the current holder's lease expires."""
    with engine.begin() as conn:
        row = conn.execute(_GRANT, {"s": session_id, "agent": agent, "holder": holder,
                                    "ttl": ttl}).first()
        if row is not None:
            return Lease(uuid.UUID(str(row.lease_id)), session_id, row.fencing_token,
                         row.expires_at)
        expires: datetime = conn.execute(text(
            "SELECT expires_at FROM session_leases WHERE session_id = :s"),
            {"s": session_id}).scalar_one()
        return expires


def renew(engine: Engine, lease_id: uuid.UUID, allows: Allows, ttl: float) -> Lease:
    with engine.begin() as conn:
        session_id, _ = _owned(conn, lease_id, allows)
        row = conn.execute(text(
            "UPDATE session_leases SET expires_at = clock_timestamp() "
            "+ make_interval(secs => :ttl) WHERE lease_id = :id "
            "AND expires_at > clock_timestamp() RETURNING fencing_token, expires_at"),
            {"id": lease_id, "ttl": ttl}).first()
    if row is None:
        raise LeaseError(f"lease {lease_id} has expired; acquire the session again (another "
                         "holder may have written since, so re-read its context)",
                         code="LEASE_EXPIRED")
    return Lease(lease_id, session_id, row.fencing_token, row.expires_at)


def release(engine: Engine, lease_id: uuid.UUID, allows: Allows) -> uuid.UUID:
    """End the lease now; returns its session."""
    with engine.begin() as conn:
        session_id, _ = _owned(conn, lease_id, allows)
        conn.execute(text("UPDATE session_leases SET expires_at = least(expires_at, "
                          "clock_timestamp()) WHERE lease_id = :id"), {"id": lease_id})
    return session_id


def _owned(conn: Connection, lease_id: uuid.UUID, allows: Allows) -> tuple[uuid.UUID, str]:
    row = conn.execute(text("SELECT session_id, agent FROM session_leases "
                            "WHERE lease_id = :id FOR UPDATE"), {"id": lease_id}).first()
    if row is None or not allows(row.agent):
        raise LeaseError(f"no lease {lease_id}: it was never granted, or the session has been "
                         "leased again since", code="LEASE_NOT_FOUND")
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
