"""The comparison's metrics, each one SQL statement over the working tables of `turns`.

A *turn* is an inbound message (`message.received`, a member of kind `user`)
whose `occurred_at` lies in the window; its *context* is defined in `turns`. A
session is *in the window* when one of its members' `occurred_at` lies in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from projections.simulate.model import Crossing, Window

IN_WINDOW = ("(CAST(:since AS timestamptz) IS NULL OR {t}.occurred_at >= :since) AND "
             "(CAST(:until AS timestamptz) IS NULL OR {t}.occurred_at < :until)")


def window_params(window: Window) -> dict[str, Any]:
    return {"since": window.since, "until": window.until}


@dataclass(frozen=True, slots=True)
class SessionSizes:
    sessions: int
    by_kind: dict[str, int]
    multi_chat: int
    p50: int
    p95: int
    largest: int
    over_budget: int
    crossings: tuple[Crossing, ...]


_SIZES = """
WITH per_session AS (
    SELECT m.session_id, min(m.key) AS key,
           max(m.running) FILTER (WHERE CAST(:until AS timestamptz) IS NULL
                                     OR m.occurred_at < :until) AS size,
           CASE WHEN count(DISTINCT m.chat_type) > 1 THEN 'mixed'
                ELSE coalesce(min(m.chat_type), 'none') END AS kind,
           count(DISTINCT (m.platform, m.chat)) AS chats,
           (array_agg(m.occurred_at ORDER BY m.position)
                FILTER (WHERE m.running > :budget))[1] AS crossed_at
      FROM sim_members m
     GROUP BY m.session_id
    HAVING bool_or({in_window})
)
SELECT session_id, key, coalesce(size, 0) AS size, kind, chats,
       CASE WHEN size > :budget THEN crossed_at END AS crossed_at
  FROM per_session
"""


def session_sizes(conn: Connection, window: Window, budget: int) -> SessionSizes:
    """Sessions in the window, by chat kind, and their size at the window's end.

    - sessions: sessions in the window; by kind: the `chat_type` of their members
      (`dm`, `group`, `channel`; `mixed` when several); multi-chat: sessions
      whose members come from more than one (platform, chat).
    - size: the session's running token sum at its last member before `until`
      (members from before `since` included: that is what the session holds);
      p50 and p95 are nearest-rank percentiles (`percentile_disc`), max the largest.
    - over budget: sessions whose size exceeds the budget; each one's crossing
      time is the `occurred_at` of its first member (in position order) whose
      running sum exceeds it.
    """
    rows = conn.execute(text(_SIZES.format(in_window=IN_WINDOW.format(t="m"))),
                        {**window_params(window), "budget": budget}).all()
    sizes = sorted(int(r.size) for r in rows)
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row.kind] = by_kind.get(row.kind, 0) + 1
    crossings = sorted((Crossing(r.key, r.crossed_at, int(r.size)) for r in rows
                        if r.crossed_at is not None), key=lambda c: (c.crossed_at, c.key))
    return SessionSizes(
        sessions=len(rows), by_kind=dict(sorted(by_kind.items())),
        multi_chat=sum(1 for r in rows if r.chats > 1),
        p50=nearest_rank(sizes, 0.50), p95=nearest_rank(sizes, 0.95),
        largest=sizes[-1] if sizes else 0, over_budget=len(crossings), crossings=tuple(crossings))


def nearest_rank(ordered: list[int], fraction: float) -> int:
    """The smallest value with at least `fraction` of the values at or below it
    (PostgreSQL's percentile_disc); 0 for no values."""
    if not ordered:
        return 0
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]


@dataclass(frozen=True, slots=True)
class TurnTotals:
    turns: int
    context: int
    cache_write: int
    cache_read: int
    cross_user: int
    leak: int


_TURN_TOTALS = """
SELECT count(*) AS turns, coalesce(sum(context), 0) AS context,
       coalesce(sum(context - cache_read), 0) AS cache_write,
       coalesce(sum(cache_read), 0) AS cache_read,
       coalesce(sum(window_tokens - own_tokens - unowned_tokens), 0) AS cross_user,
       coalesce(sum(leak_tokens), 0) AS leak
  FROM sim_cached t
 WHERE {in_window}
"""


def turn_totals(conn: Connection, window: Window) -> TurnTotals:
    """Rehydration cost, its cache split, cross-user tokens and privacy leakage, over turns.

    - rehydration (context tokens): the sum over turns of the context they are
      sent (summary sent + messages that fit the budget, see `turns`).
    - cache reads: a turn reads from the prompt cache the whole context of the
      session's previous turn (in position order, in the window or not) when its
      own context starts at the same member after the same summary (its prefix
      is unchanged) and no more than the cache TTL passed between the two turns'
      `occurred_at`; it writes the rest. A session's first turn, a summary, a
      budget window that slid, or an expired cache rewrite everything.
    - cross-user tokens: message tokens in a turn's context owned by someone
      other than the asker: members whose `owner` (see `turns`) is another
      sender; members with no owner (before the first inbound) and the summary
      are nobody's. The share is cross-user tokens / context tokens.
    - privacy leakage: message tokens in a turn's context from another
      (platform, chat) than the turn's when either that chat or the turn's chat
      is a privacy zone of the policy.
    """
    row = conn.execute(text(_TURN_TOTALS.format(in_window=IN_WINDOW.format(t="t"))),
                       window_params(window)).one()
    return TurnTotals(int(row.turns), int(row.context), int(row.cache_write),
                      int(row.cache_read), int(row.cross_user), int(row.leak))


_INTERRUPTS = """
WITH timeline AS (
    SELECT m.*, count(*) FILTER (WHERE m.kind = 'assistant') OVER (
                    PARTITION BY m.session_id ORDER BY m.occurred_at, m.position) AS answers
      FROM sim_members m
), pending AS (
    SELECT t.*, min(t.sender) FILTER (WHERE t.kind = 'user') OVER w AS low,
           max(t.sender) FILTER (WHERE t.kind = 'user') OVER w AS high
      FROM timeline t
    WINDOW w AS (PARTITION BY t.session_id, t.answers ORDER BY t.occurred_at, t.position
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT count(*) FROM pending t
 WHERE t.kind = 'user' AND (t.low <> t.sender OR t.high <> t.sender) AND {in_window}
"""


def interrupts(conn: Connection, window: Window) -> int:
    """Interrupt exposure: turns that arrive while another sender's message is unanswered.

    A session's timeline orders its members by (`occurred_at`, position). A turn
    from sender A is exposed when, earlier in that timeline and after the
    session's last outbound message (`message.sent`, kind `assistant`) before it,
    there is an inbound message from a sender other than A. Tool calls do not
    answer: the agent is still working.
    """
    return int(conn.execute(text(_INTERRUPTS.format(in_window=IN_WINDOW.format(t="t"))),
                            window_params(window)).scalar_one())


_ORPHANS = """
SELECT count(*) FROM (
    SELECT a.session_id
      FROM session_members a
      JOIN sim_members c ON c.position = a.position
     WHERE a.projection_id = :baseline AND {in_window}
     GROUP BY a.session_id
    HAVING count(DISTINCT c.session_id) > 1) split
"""


def orphaned_sessions(conn: Connection, window: Window, *, baseline: int) -> int:
    """Sessions of the baseline whose members (up to `upto`, with `occurred_at` in the
    window) are members of more than one session of the measured projection (its
    `sim_members`): the history a key-based gateway would orphan on the switch."""
    return int(conn.execute(text(_ORPHANS.format(in_window=IN_WINDOW.format(t="c"))), {
        **window_params(window), "baseline": baseline}).scalar_one())
