"""The two working tables every metric reads: members with their running sums, and turns.

Both are temporary tables, dropped at the end of the caller's transaction, built
from one projection's session tables and the events' envelopes (times, chats),
never from `events.tokens`: a member's tokens are `session_members.tokens`, the
count under the projection's encoding.

`sim_members`, one row per session member up to the window's `upto` position (of
the window's agent and space, when it names them):
  - `owner`: the asker of the turn the member belongs to, i.e. the sender of the
    latest inbound message (`kind = 'user'`) of its session at or before it, in
    position order; NULL for members before the session's first inbound message.
  - `own_running`: the session's running token sum over members of the same owner.
  - `lead_in`: the tokens of the session's members that have no owner (all first).
  - `zone`: the member's (platform, chat) is a privacy zone of the policy.
  - `zone_running`: the session's running sum over zone members.

`sim_turns`, one row per inbound message (every one up to `upto`, so that a turn
just inside the window knows the turn before it), with its context as the
context call would assemble it at that position under the budget `B`:
  - the summary: the newest recorded (not erased) summary of the session at or
    before the turn, with tokens `s`; it is sent when `s <= B`, and messages then
    get `B' = B - s` (else `B' = B`); `floor` is the running sum at the last member
    the summary covers (0 without one).
  - the messages: the longest run of the session's members ending at the turn,
    after the summary, whose tokens fit `B'`. Running sums are non-decreasing, so
    that run starts right after the member whose running sum is the least one at
    or above `max(running - B', floor)` (`start`, 0 when that bound is <= 0: from
    the first member); when the turn's own message does not fit, the run is empty.
    Tokens are as first written: an edit or deletion later in the log does not
    change what an earlier turn was sent, and a thread's inherited parent context
    is not counted.
  - `context` = summary tokens sent + `running - start`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from projections.simulate.model import Window

# Two sorts: one by (session, position) for every running value, one by (session,
# owner, position) for the owners' sums. The owner is the sender of the latest
# inbound message so far: a running max over "position (zero-padded) + sender" of
# inbound messages, whose tail is that sender.
_MEMBERS = """
CREATE TEMP TABLE sim_members ON COMMIT DROP AS
WITH base AS (
    SELECT m.session_id, m.position, m.kind, m.sender, m.tokens, m.running_tokens AS running,
           e.occurred_at, e.platform, e.space, e.chat, e.chat_type, s.agent, s.key,
           EXISTS (SELECT 1 FROM unnest(CAST(:zone_platforms AS text[]),
                                        CAST(:zone_chats AS text[])) AS z(platform, chat)
                    WHERE z.platform = e.platform AND z.chat = e.chat) AS zone
      FROM session_members m
      JOIN sessions s ON s.projection_id = m.projection_id AND s.session_id = m.session_id
      JOIN events e ON e.position = m.position
     WHERE m.projection_id = :projection AND m.position <= :upto
       AND (CAST(:agent AS text) IS NULL OR s.agent = :agent)
       AND (CAST(:space AS text) IS NULL OR e.platform || ':' || e.space = :space)
), ordered AS (
    SELECT b.*,
           substr(max(CASE WHEN b.kind = 'user'
                           THEN lpad(b.position::text, 20, '0') || coalesce(b.sender, '') END)
                      OVER w, 21) AS owner,
           sum(CASE WHEN b.zone THEN b.tokens ELSE 0 END) OVER w AS zone_running,
           min(b.running - b.tokens) FILTER (WHERE b.kind = 'user')
               OVER (PARTITION BY b.session_id) AS lead_in
      FROM base b
    WINDOW w AS (PARTITION BY b.session_id ORDER BY b.position)
)
SELECT o.*,
       sum(o.tokens) OVER (PARTITION BY o.session_id, o.owner ORDER BY o.position) AS own_running
  FROM ordered o
"""

_MEMBER_INDEXES = (
    "CREATE INDEX ON sim_members (session_id, running, position)",
    "CREATE INDEX ON sim_members (session_id, owner, position)",
    "CREATE INDEX ON sim_members (session_id, position)",
    "ANALYZE sim_members",
)

_TURNS = """
CREATE TEMP TABLE sim_turns ON COMMIT DROP AS
WITH sized AS (
    SELECT u.session_id, u.key, u.agent, u.position, u.sender, u.occurred_at, u.platform,
           u.space, u.chat, u.chat_type, u.zone, u.running, u.own_running, u.zone_running,
           coalesce(u.lead_in, 0) AS lead_in,
           sm.position AS summary_at, coalesce(sm.tokens, 0) AS summary_tokens,
           CASE WHEN coalesce(sm.tokens, 0) <= :budget THEN coalesce(sm.tokens, 0)
                ELSE 0 END AS summary_sent,
           least(coalesce(fl.running, 0), u.running) AS floor
      FROM sim_members u
      LEFT JOIN LATERAL (
            SELECT ss.position, ss.covers_position, ss.tokens FROM session_summaries ss
              JOIN event_content c ON c.position = ss.position AND c.erased_by IS NULL
             WHERE ss.projection_id = :projection AND ss.session_id = u.session_id
               AND ss.position <= u.position
             ORDER BY ss.covers_position DESC, ss.position DESC LIMIT 1) sm ON true
      LEFT JOIN LATERAL (
            SELECT f.running FROM sim_members f
             WHERE f.session_id = u.session_id AND f.position <= sm.covers_position
             ORDER BY f.position DESC LIMIT 1) fl ON true
     WHERE u.kind = 'user'
), bounded AS (
    SELECT z.*, greatest(z.running - (:budget - z.summary_sent), z.floor) AS lower
      FROM sized z
), started AS (
    -- b: the member the context starts after (none: from the first member; the
    -- turn itself: nothing fits).
    SELECT t.*,
           CASE WHEN t.lower <= 0 THEN 0 ELSE coalesce(b.running, t.running) END AS start,
           CASE WHEN t.lower <= 0 THEN NULL ELSE coalesce(b.position, t.position) END AS b_at,
           CASE WHEN t.lower <= 0 THEN 0 ELSE coalesce(b.zone_running, t.zone_running)
                END AS b_zone
      FROM bounded t
      LEFT JOIN LATERAL (
            SELECT c.running, c.position, c.zone_running FROM sim_members c
             WHERE c.session_id = t.session_id AND c.running >= t.lower
               AND c.position < t.position
             ORDER BY c.running, c.position LIMIT 1) b ON t.lower > 0
)
SELECT s.*, s.running - s.start AS window_tokens, s.summary_sent + s.running - s.start AS context,
       s.own_running - coalesce((
            SELECT o.own_running FROM sim_members o
             WHERE o.session_id = s.session_id AND o.owner = s.sender AND o.position <= s.b_at
             ORDER BY o.position DESC LIMIT 1), 0) AS own_tokens,
       greatest(s.lead_in - s.start, 0) AS unowned_tokens,
       CASE WHEN s.zone THEN coalesce((
                SELECT sum(h.tokens) FROM sim_members h
                 WHERE h.session_id = s.session_id AND h.position <= s.position
                   AND h.position > coalesce(s.b_at, -1)
                   AND (h.platform, h.chat) IS DISTINCT FROM (s.platform, s.chat)), 0)
            ELSE s.zone_running - s.b_zone END AS leak_tokens
  FROM started s
"""

# Prompt caching: a turn reads from the cache what the session's previous turn sent,
# when its context starts at the same member after the same summary and the cache
# has not expired; everything else it sends is written.
_CACHE = """
CREATE TEMP TABLE sim_cached ON COMMIT DROP AS
WITH paired AS (
    SELECT t.*, lag(t.position) OVER w AS p_position, lag(t.start) OVER w AS p_start,
           lag(t.summary_at) OVER w AS p_summary_at, lag(t.context) OVER w AS p_context,
           lag(t.occurred_at) OVER w AS p_occurred_at
      FROM sim_turns t
    WINDOW w AS (PARTITION BY t.session_id ORDER BY t.position)
)
SELECT p.*,
       CASE WHEN p.p_position IS NOT NULL AND p.p_start = p.start
                 AND p.p_summary_at IS NOT DISTINCT FROM p.summary_at
                 AND (CAST(:ttl_seconds AS float8) IS NULL
                      OR extract(epoch FROM p.occurred_at - p.p_occurred_at) <= :ttl_seconds)
            THEN p.p_context ELSE 0 END AS cache_read
  FROM paired p
"""


def zones_of(zones: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Privacy zones as the two parallel arrays the members statement takes."""
    pairs = sorted(set(zones))
    return {"zone_platforms": [p for p, _ in pairs], "zone_chats": [c for _, c in pairs]}


def build_turns(conn: Connection, projection_id: int, window: Window, *, budget: int,
                zones: Iterable[tuple[str, str]], cache_ttl_minutes: float | None) -> None:
    """Create sim_members, sim_turns and sim_cached for one projection, in this transaction."""
    # JIT compiles these statements for longer than they run (0.5 s of 1 s at 100k events).
    conn.execute(text("SET LOCAL jit = off"))
    conn.execute(text("DROP TABLE IF EXISTS sim_cached, sim_turns, sim_members"))
    conn.execute(text(_MEMBERS), {"projection": projection_id, "upto": window.upto,
                                  "agent": window.agent, "space": window.space,
                                  **zones_of(zones)})
    for statement in _MEMBER_INDEXES:
        conn.execute(text(statement))
    conn.execute(text(_TURNS), {"projection": projection_id, "budget": budget})
    ttl = None if cache_ttl_minutes is None else cache_ttl_minutes * 60.0
    conn.execute(text(_CACHE), {"ttl_seconds": ttl})
