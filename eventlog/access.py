"""API tokens, the service under `convlog token` and the API's bearer check: stored only
as SHA-256 hashes, scoped to agents and verbs, printed once when created."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, text

from eventlog.errors import ConvlogError

Verb = Literal["ingest", "read", "admin"]
VERBS: tuple[Verb, ...] = ("ingest", "read", "admin")
ALL_AGENTS = "*"
TOKEN_PREFIX = "clg_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class TokenError(ConvlogError):
    """A token command that cannot be carried out (bad name, unknown token, ...)."""

    code = "TOKEN"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: the token's name, its agents (None: all) and verbs."""

    name: str
    agents: frozenset[str] | None
    verbs: frozenset[str]
    expires_at: datetime | None = None

    def allows(self, agent: str) -> bool:
        return self.agents is None or agent in self.agents

    def agent_list(self) -> list[str] | None:
        return None if self.agents is None else sorted(self.agents)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    agents: list[str]
    verbs: list[str]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "agents": self.agents, "verbs": self.verbs,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None}


_DURATION = re.compile(r"(\d{1,7})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(value: str) -> timedelta:
    """`90m`, `12h`, `30d`, `2w`: a positive whole number and a unit."""
    found = _DURATION.fullmatch(value.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise TokenError(f"--expires-in {value!r} must be a positive number with a unit: "
                         "90m, 12h, 30d or 2w", code="INVALID_TOKEN_EXPIRY")
    return timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)])


def token_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def parse_list(value: str, what: str) -> list[str]:
    items = sorted({item.strip() for item in value.split(",") if item.strip()})
    if not items:
        raise TokenError(f"--{what} needs at least one value", code="INVALID_TOKEN_SCOPE")
    return items


def create_token(engine: Engine, name: str, agents: Iterable[str], verbs: Iterable[str],
                 expires_in: timedelta | None = None) -> str:
    """Store a new token's hash; returns the secret, which is shown once and never stored.
    With `expires_in`, requests with it are refused from then on."""
    agents, verbs = sorted(set(agents)), sorted(set(verbs))
    if not _NAME.fullmatch(name):
        raise TokenError(f"token name {name!r} must be 1-63 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit", code="INVALID_TOKEN_NAME")
    unknown = [verb for verb in verbs if verb not in VERBS]
    if unknown or not verbs:
        raise TokenError(f"unknown verb(s) {', '.join(unknown) or '(none)'}; choose from "
                         f"{', '.join(VERBS)}", code="INVALID_TOKEN_SCOPE")
    if not agents or (ALL_AGENTS in agents and len(agents) > 1):
        raise TokenError("--agents names agents, or is '*' alone for every agent",
                         code="INVALID_TOKEN_SCOPE")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        taken = conn.execute(text("SELECT 1 FROM api_tokens WHERE name = :n AND revoked_at "
                                  "IS NULL"), {"n": name}).first()
        if taken:
            raise TokenError(f"a token named {name!r} exists; revoke it first or pick another "
                             "name", code="TOKEN_EXISTS")
        conn.execute(text("INSERT INTO api_tokens (name, token_hash, agents, verbs, expires_at) "
                          "VALUES (:n, :h, :a, :v, now() + :ttl)"),
                     {"n": name, "h": token_hash(secret), "a": agents, "v": verbs,
                      "ttl": expires_in})
    return secret


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, agents, verbs, created_at, revoked_at, "
                                 "expires_at FROM api_tokens ORDER BY created_at, id"))
        return [TokenInfo(r.name, list(r.agents), list(r.verbs), r.created_at, r.revoked_at,
                          r.expires_at) for r in rows]


def revoke_token(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        revoked = conn.execute(text("UPDATE api_tokens SET revoked_at = now() WHERE name = :n "
                                    "AND revoked_at IS NULL"), {"n": name}).rowcount
    if not revoked:
        raise TokenError(f"no live token named {name!r}; see `convlog token list`",
                         code="UNKNOWN_TOKEN")


def principal_for(conn: Connection, secret: str) -> Principal | None:
    row = conn.execute(text("SELECT name, agents, verbs, expires_at FROM api_tokens "
                            "WHERE token_hash = :h AND revoked_at IS NULL AND (expires_at IS "
                            "NULL OR expires_at > now())"), {"h": token_hash(secret)}).first()
    if row is None:
        return None
    agents = None if ALL_AGENTS in row.agents else frozenset(row.agents)
    return Principal(row.name, agents, frozenset(row.verbs), row.expires_at)


# Notified at commit whenever api_tokens changes (a trigger): caches forget.
TOKENS_CHANNEL = "convlog_tokens"


class PrincipalCache:
    """Tokens a server verified, so a request costs no query for a token it saw lately.

    A revocation reaches it as a notice on TOKENS_CHANNEL (`forget`, called by whoever
    listens: the server's follower, which also calls it whenever it stops listening), an
    expiry is checked on every use, and an entry is verified again after `ttl` seconds
    whatever happened. Unknown tokens are not kept, nor a lookup that a notice overtook.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._seen: dict[bytes, tuple[Principal, float]] = {}
        self._generation = 0  # moved by `forget`: a lookup begun before it is not kept

    def seen(self, secret: str) -> Principal | None:
        """The principal of `secret` if it was verified lately and has not expired; None
        means "look it up" (`principal`), not "unknown"."""
        seen = self._seen.get(token_hash(secret))
        if seen is not None and seen[1] > time.monotonic() and (
                seen[0].expires_at is None or seen[0].expires_at > datetime.now(UTC)):
            return seen[0]
        return None

    def principal(self, engine: Engine, secret: str) -> Principal | None:
        known = self.seen(secret)
        if known is not None:
            return known
        key = token_hash(secret)
        generation = self._generation
        with engine.connect() as conn:
            found = principal_for(conn, secret)
        if found is None:
            self._seen.pop(key, None)
        elif generation == self._generation:  # no change to the tokens was heard meanwhile
            self._seen[key] = (found, time.monotonic() + self.ttl)
        return found

    def forget(self) -> None:
        self._generation += 1
        self._seen = {}
