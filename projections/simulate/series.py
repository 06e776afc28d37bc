"""The report's chart data, from the tallies that made the comparison's numbers.

Sizes, cost per day, cross-user share per space and per-session costs are what
each policy's `Tally` counted, so the charts show exactly the numbers the table
sums; the growth curves of the largest sessions read their members once more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, text

from projections.simulate.compare import Measured
from projections.simulate.model import TOP_SESSIONS, Prices

MAX_POINTS = 400  # per growth curve: enough for a chart, small in the file


@dataclass(frozen=True, slots=True)
class Growth:
    """One session's running token sum over time (position order)."""

    key: str
    times: list[datetime]
    tokens: list[int]


@dataclass(frozen=True, slots=True)
class SessionCost:
    """What one session's turns cost, with what it is: the active projection's usage."""

    key: str
    agent: str
    kind: str
    turns: int
    context_tokens: int
    cost: float


@dataclass
class Series:
    """Everything the report draws for one policy."""

    name: str
    growth: list[Growth] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    cost_per_day: dict[date, float] = field(default_factory=dict)
    share_per_space: dict[str, float] = field(default_factory=dict)
    session_costs: list[SessionCost] = field(default_factory=list)


_CURVE = text(
    "SELECT e.occurred_at, e.platform, e.space, coalesce(t.tokens, 0) AS tokens "
    "FROM events e LEFT JOIN token_counts t ON t.encoding = :encoding "
    "AND t.position = e.position WHERE e.position = ANY(:positions) ORDER BY e.position")


def _thin(rows: list[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    if len(rows) <= MAX_POINTS:
        return rows
    step = len(rows) / MAX_POINTS
    return [rows[int(i * step)] for i in range(MAX_POINTS)] + [rows[-1]]


def read_series(conn: Connection, measured: Measured, prices: Prices, *,
                with_sessions: bool = False) -> Series:
    """The chart data of one measured policy (`conn` sees the log as its pass did)."""
    tally = measured.tally
    series = Series(measured.label, sizes=tally.sizes())
    series.growth = _growth(conn, measured)
    series.cost_per_day = {day: prices.cost(context - read, read)
                           for day, (context, read) in sorted(tally.per_day.items())}
    series.share_per_space = {space: (other / context if context else 0.0)
                              for space, (other, context) in sorted(tally.per_space.items())}
    if with_sessions and tally.per_session is not None:
        costs = []
        for n, use in tally.per_session.items():
            key, agent = tally.session_label(n)
            kind = "mixed" if len(use.kinds) > 1 else next(iter(use.kinds), "none")
            costs.append(SessionCost(key, agent, kind, use.turns, use.context,
                                     prices.cost(use.context - use.cache_read, use.cache_read)))
        series.session_costs = sorted(costs, key=lambda c: (-c.cost, c.key))
    return series


def _growth(conn: Connection, measured: Measured) -> list[Growth]:
    """Running token sums over time of the largest sessions (members before `until`)."""
    largest = measured.tally.largest(TOP_SESSIONS)
    if not largest:
        return []
    wanted: dict[int, list[int]] = {n: [] for n, _, _ in largest}
    for position, n in enumerate(measured.sessions.of):
        if n in wanted:
            wanted[n].append(position)
    window = measured.tally.window
    curves: list[Growth] = []
    for n, key, _ in largest:
        running, points = 0, []  # type: tuple[int, list[tuple[datetime, int]]]
        for row in conn.execute(_CURVE, {"encoding": measured.encoding,
                                         "positions": wanted[n]}):
            running += int(row.tokens)
            if window.space is not None and (
                    row.space is None or f"{row.platform}:{row.space}" != window.space):
                continue
            if window.until is None or row.occurred_at < window.until:
                points.append((row.occurred_at, running))
        thinned = _thin(points)
        curves.append(Growth(key, [p[0] for p in thinned], [p[1] for p in thinned]))
    return curves
