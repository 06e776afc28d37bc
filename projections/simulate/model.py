"""What a simulation is asked (window, budget, prices) and what it answers, as typed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Prompt-cache prices per million input tokens. The defaults are one provider's list
# prices at the time of writing (cache writes 3.75, cache reads 0.30 USD): parameters,
# so the table shows money for whatever model a gateway pays for.
DEFAULT_WRITE_PRICE = 3.75
DEFAULT_READ_PRICE = 0.30
DEFAULT_CACHE_TTL_MINUTES = 5.0
TOP_SESSIONS = 5


@dataclass(frozen=True, slots=True)
class Prices:
    """Money per million context tokens: written to the prompt cache, or read from it."""

    write_per_million: float = DEFAULT_WRITE_PRICE
    read_per_million: float = DEFAULT_READ_PRICE
    currency: str = "USD"

    def cost(self, written: int, read: int) -> float:
        return (written * self.write_per_million + read * self.read_per_million) / 1e6


@dataclass(frozen=True, slots=True)
class Window:
    """Which turns count: inbound messages with since <= occurred_at < until.

    `upto` is the last log position every compared projection has folded, so
    each policy is measured over the same events. `agent` keeps that agent's
    sessions; `space` ("platform:space id") keeps the members written in that
    guild or workspace (DMs have none).
    """

    upto: int
    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    space: str | None = None


@dataclass(frozen=True, slots=True)
class Params:
    """How a turn's context is sized and priced."""

    budget: int | None = None  # None: each policy's compaction.context_limit_tokens
    prices: Prices = field(default_factory=Prices)
    cache_ttl_minutes: float | None = DEFAULT_CACHE_TTL_MINUTES  # None: a cache never expires


@dataclass(frozen=True, slots=True)
class Crossing:
    """A session whose size went over the budget, and when (the crossing member's time)."""

    key: str
    crossed_at: datetime
    tokens: int


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    """One column of the comparison: every metric of one policy over the same window."""

    name: str
    source: str  # "candidate" (decided in memory) or the name of an existing projection
    budget: int
    sessions: int
    sessions_by_kind: dict[str, int]
    multi_chat_sessions: int
    size_p50: int
    size_p95: int
    size_max: int
    over_budget: int
    crossings: tuple[Crossing, ...]
    turns: int
    context_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost: float
    cross_user_tokens: int
    interrupts: int
    privacy_leak_tokens: int
    orphaned_sessions: int | None  # None: no baseline to compare with

    @property
    def tokens_per_turn(self) -> float:
        return self.context_tokens / self.turns if self.turns else 0.0

    @property
    def cross_user_share(self) -> float:
        return self.cross_user_tokens / self.context_tokens if self.context_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "budget": self.budget,
            "sessions": self.sessions, "sessions_by_kind": self.sessions_by_kind,
            "multi_chat_sessions": self.multi_chat_sessions,
            "session_tokens": {"p50": self.size_p50, "p95": self.size_p95,
                               "max": self.size_max},
            "over_budget": self.over_budget,
            "crossings": [{"key": c.key, "crossed_at": c.crossed_at.isoformat(),
                           "tokens": c.tokens} for c in self.crossings],
            "turns": self.turns, "context_tokens": self.context_tokens,
            "tokens_per_turn": round(self.tokens_per_turn, 1),
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens, "cost": round(self.cost, 6),
            "cross_user_tokens": self.cross_user_tokens,
            "cross_user_share": round(self.cross_user_share, 6),
            "interrupts": self.interrupts, "privacy_leak_tokens": self.privacy_leak_tokens,
            "orphaned_sessions": self.orphaned_sessions,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Policies side by side over one window, with the parameters that priced them."""

    window: Window
    params: Params
    columns: tuple[PolicyMetrics, ...]
    baseline: str | None

    @property
    def leaking(self) -> tuple[PolicyMetrics, ...]:
        return tuple(c for c in self.columns if c.privacy_leak_tokens)

    def as_dict(self) -> dict[str, Any]:
        prices = self.params.prices
        return {
            "upto": self.window.upto,
            "since": self.window.since.isoformat() if self.window.since else None,
            "until": self.window.until.isoformat() if self.window.until else None,
            "agent": self.window.agent, "space": self.window.space,
            "baseline": self.baseline,
            "prices": {"write_per_million": prices.write_per_million,
                       "read_per_million": prices.read_per_million,
                       "currency": prices.currency},
            "cache_ttl_minutes": self.params.cache_ttl_minutes,
            "policies": [c.as_dict() for c in self.columns],
        }
