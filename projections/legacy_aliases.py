"""Legacy keys in a projection's state: sessions that carry one, and imported aliases."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError


@dataclass(frozen=True, slots=True)
class KeyedSession:
    """A session of a projection whose legacy keys include the one looked up."""

    session_id: uuid.UUID
    key: str
    epoch: int
    message_count: int
    gateways: tuple[str, ...]  # whose key it is: OpenClaw's and Hermes's formats can agree

    def as_dict(self) -> dict[str, Any]:
        return {"session_id": str(self.session_id), "key": self.key, "epoch": self.epoch,
                "messages": self.message_count, "gateways": list(self.gateways)}


@dataclass(frozen=True, slots=True)
class ImportedAlias:
    """An address an importer recorded for a gateway key (an opaque key's only way back)."""

    gateway: str
    legacy_key: str
    address: dict[str, Any]
    source: str
    scope: dict[str, Any] | None = None  # PicoClaw: what its opaque `sk_v1_` key hashes

    def as_dict(self) -> dict[str, Any]:
        return {"gateway": self.gateway, "legacy_key": self.legacy_key,
                "address": self.address, "source": self.source}


def sessions_with_key(conn: Connection, projection_id: int, legacy_key: str,
                      gateway: str | None = None) -> list[KeyedSession]:
    """Every session (all epochs) of the projection that renders this legacy key."""
    gateways = [gateway] if gateway else ["openclaw", "hermes", "picoclaw", "picoclaw:alias"]
    found: dict[uuid.UUID, KeyedSession] = {}
    for name in gateways:
        rows = conn.execute(text(
            "SELECT session_id, key, epoch, message_count FROM sessions "
            "WHERE projection_id = :p AND legacy_keys @> CAST(:probe AS jsonb) "
            "ORDER BY epoch"),
            {"p": projection_id, "probe": json.dumps({name: legacy_key})}).all()
        for r in rows:
            session_id = uuid.UUID(str(r.session_id))
            seen = found.get(session_id)
            names = (*seen.gateways, name) if seen else (name,)
            found[session_id] = KeyedSession(session_id, r.key, r.epoch, r.message_count, names)
    return sorted(found.values(), key=lambda s: (s.key, s.epoch))


def imported_aliases(conn: Connection, legacy_key: str) -> list[ImportedAlias]:
    """The addresses importers recorded under this key (empty before migration 0007)."""
    try:
        with conn.begin_nested():
            rows = conn.execute(text(
                "SELECT gateway, legacy_key, address, source, scope FROM legacy_aliases "
                "WHERE legacy_key = :k ORDER BY gateway"), {"k": legacy_key}).all()
    except ProgrammingError:
        return []
    return [ImportedAlias(r.gateway, r.legacy_key, dict(r.address), r.source,
                          dict(r.scope) if isinstance(r.scope, dict) else None) for r in rows]


def record_aliases(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Record an import's aliases ({g: gateway, k: legacy key, a: address JSON, s: scope
    JSON or None, src: source}); returns how many were new (a re-import adds none)."""
    with engine.begin() as conn:
        before = conn.execute(text("SELECT count(*) FROM legacy_aliases")).scalar_one()
        conn.execute(text(
            "INSERT INTO legacy_aliases (gateway, legacy_key, address, scope, source) "
            "VALUES (:g, :k, CAST(:a AS jsonb), CAST(:s AS jsonb), :src) "
            "ON CONFLICT DO NOTHING"), rows)
        after = conn.execute(text("SELECT count(*) FROM legacy_aliases")).scalar_one()
    return int(after - before)
