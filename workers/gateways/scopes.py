"""The PicoClaw scopes an import recorded: what an opaque `sk_v1_` key is the hash of."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError


def imported_scopes(conn: Connection, legacy_key: str) -> list[dict[str, Any]]:
    """The scopes (`{version, agent_id, channel, account, dimensions, values}`) recorded
    under this key by `convlog import picoclaw`; none before migration 0007."""
    try:
        with conn.begin_nested():
            rows = conn.execute(text(
                "SELECT scope FROM legacy_aliases WHERE legacy_key = :k AND scope IS NOT NULL "
                "ORDER BY gateway"), {"k": legacy_key}).all()
    except ProgrammingError:
        return []
    return [dict(r.scope) for r in rows if isinstance(r.scope, dict)]
