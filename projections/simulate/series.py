"""The report's chart data, read from the working tables while a projection is measured.

Each function reads `sim_members` / `sim_cached` (see `turns`) of the projection
being measured, so the charts show exactly the numbers the table sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, text

from projections.simulate.metrics import IN_WINDOW, window_params
from projections.simulate.model import TOP_SESSIONS, Prices, Window

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


_LARGEST = """
SELECT session_id, min(key) AS key FROM sim_members m
 WHERE CAST(:until AS timestamptz) IS NULL OR m.occurred_at < :until
 GROUP BY session_id HAVING bool_or({in_window})
 ORDER BY max(running) DESC, min(key) LIMIT :n
"""

_CURVE = """
SELECT occurred_at, running FROM sim_members
 WHERE session_id = :s AND (CAST(:until AS timestamptz) IS NULL OR occurred_at < :until)
 ORDER BY position
"""

_SIZES = """
SELECT coalesce(max(running) FILTER (WHERE CAST(:until AS timestamptz) IS NULL
                                      OR occurred_at < :until), 0) AS size
  FROM sim_members m GROUP BY session_id HAVING bool_or({in_window})
"""

_PER_DAY = """
SELECT (t.occurred_at AT TIME ZONE 'UTC')::date AS day,
       sum(t.context - t.cache_read) AS written, sum(t.cache_read) AS read
  FROM sim_cached t WHERE {in_window} GROUP BY 1 ORDER BY 1
"""

_PER_SPACE = """
SELECT coalesce(t.platform || ':' || t.space, t.platform || ' (no space)') AS space,
       sum(t.window_tokens - t.own_tokens - t.unowned_tokens) AS other,
       sum(t.context) AS context
  FROM sim_cached t WHERE {in_window} GROUP BY 1 ORDER BY 1
"""

_PER_SESSION = """
SELECT min(t.key) AS key, min(t.agent) AS agent,
       CASE WHEN count(DISTINCT t.chat_type) > 1 THEN 'mixed'
            ELSE coalesce(min(t.chat_type), 'none') END AS kind,
       count(*) AS turns, sum(t.context) AS context,
       sum(t.context - t.cache_read) AS written, sum(t.cache_read) AS read
  FROM sim_cached t WHERE {in_window} GROUP BY t.session_id
"""


def _thin(rows: list[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    if len(rows) <= MAX_POINTS:
        return rows
    step = len(rows) / MAX_POINTS
    return [rows[int(i * step)] for i in range(MAX_POINTS)] + [rows[-1]]


def read_series(conn: Connection, name: str, window: Window, prices: Prices, *,
                with_sessions: bool = False) -> Series:
    """The chart data of the projection whose working tables exist now."""
    params = window_params(window)
    members_window, turns_window = IN_WINDOW.format(t="m"), IN_WINDOW.format(t="t")
    series = Series(name)
    for row in conn.execute(text(_LARGEST.format(in_window=members_window)),
                            {**params, "n": TOP_SESSIONS}).all():
        points = _thin([(r.occurred_at, int(r.running)) for r in conn.execute(
            text(_CURVE), {"s": row.session_id, "until": window.until})])
        series.growth.append(Growth(row.key, [p[0] for p in points], [p[1] for p in points]))
    series.sizes = sorted(int(r.size) for r in conn.execute(
        text(_SIZES.format(in_window=members_window)), params))
    series.cost_per_day = {r.day: prices.cost(int(r.written), int(r.read)) for r in conn.execute(
        text(_PER_DAY.format(in_window=turns_window)), params)}
    series.share_per_space = {r.space: (int(r.other) / int(r.context) if r.context else 0.0)
                              for r in conn.execute(
                                  text(_PER_SPACE.format(in_window=turns_window)), params)}
    if with_sessions:
        series.session_costs = sorted((SessionCost(
            r.key, r.agent, r.kind, int(r.turns), int(r.context),
            prices.cost(int(r.written), int(r.read))) for r in conn.execute(
                text(_PER_SESSION.format(in_window=turns_window)), params)),
            key=lambda s: (-s.cost, s.key))
    return series
