"""The fold's set-based half: the statements that write a batch's rows (loads: `loading`).

The sequential decisions (which session each event joins) arrive as arrays;
each statement below then works on the whole batch at once: sequence numbers
and running token totals by window functions, session aggregates by GROUP BY,
edits' effect on totals and summaries' coverage by joins. Token counts come
from `token_counts` under the policy's encoding, so a fold never counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection

from projections.policy.models import CompactionPolicy
from projections.projector.assign import Assignment
from projections.projector.native import columns, native, run

# -- writing ---------------------------------------------------------------------------

# Members and changes of a batch from which its statements are planned for its size.
SIZED_PLANS_FROM = 500

_MEMBERS = native("""
WITH base AS (
    -- Each of the batch's sessions once (its slot is its place in :sessions), with the
    -- count and running total its members start from; one look-up a session, not a member.
    SELECT u.slot, u.session_id, coalesce(s.message_count, 0) AS count,
           coalesce(s.running_total, 0) AS total
      FROM unnest(CAST(:sessions AS uuid[])) WITH ORDINALITY AS u(session_id, slot)
      LEFT JOIN LATERAL (
          SELECT s.message_count, s.running_total FROM sessions s
           WHERE s.projection_id = :p AND s.session_id = u.session_id OFFSET 0) s ON true
), logged AS MATERIALIZED (
    -- The batch's range of the log with its token counts, both read as ranges and joined
    -- once: joined member by member, the counts were an index look-up each. (A slice's
    -- batch holds a fraction of its range: `_SPARSE_MEMBERS` leaves the join to the
    -- planner.)
    SELECT e.position, e.type, e.agent, e.platform, e.account, e.chat, e.message_id,
           e.sender, t.tokens
      FROM events e
      JOIN token_counts t ON t.encoding = :encoding AND t.position = e.position
       AND t.position BETWEEN :lo AND :hi
     WHERE e.position BETWEEN :lo AND :hi
), batch AS (
    SELECT f.slot, f.position, f.indexed, l.tokens, l.type, l.agent, l.platform, l.account,
           l.chat, l.message_id, l.sender,
           row_number() OVER w AS n, sum(l.tokens) OVER w AS run
      FROM unnest(CAST(:slots AS integer[]), CAST(:positions AS bigint[]),
                  CAST(:indexed AS boolean[])) AS f(slot, position, indexed)
      JOIN logged l ON l.position = f.position
    WINDOW w AS (PARTITION BY f.slot ORDER BY f.position)
), indexed AS (
    INSERT INTO message_index (projection_id, agent, platform, account, chat, message_id,
                               session_id, position)
    SELECT :p, b.agent, b.platform, b.account, b.chat, b.message_id, s.session_id, b.position
      FROM batch b JOIN base s ON s.slot = b.slot
     WHERE b.indexed
)
INSERT INTO session_members (projection_id, session_id, position, kind, message_id, sender,
                             seq, tokens, running_tokens)
SELECT :p, s.session_id, b.position,
       CASE b.type WHEN 'message.received' THEN 'user' WHEN 'message.sent' THEN 'assistant'
                   ELSE 'tool' END,
       b.message_id, b.sender, s.count + b.n, b.tokens, s.total + b.run
  FROM batch b JOIN base s ON s.slot = b.slot
""")

_SPARSE_MEMBERS = _MEMBERS.replace("logged AS MATERIALIZED", "logged AS NOT MATERIALIZED")

_CHANGES = native("""
INSERT INTO member_changes (projection_id, session_id, target_position, position, change,
                            tokens)
SELECT :p, c.session_id, c.target, c.position, c.change,
       CASE WHEN c.change = 'edited' THEN t.tokens ELSE 0 END
  FROM unnest(CAST(:sessions AS uuid[]), CAST(:targets AS bigint[]),
              CAST(:positions AS bigint[]), CAST(:changes AS text[]))
       AS c(session_id, target, position, change)
  LEFT JOIN token_counts t ON t.encoding = :encoding AND t.position = c.position
   AND t.position BETWEEN :lo AND :hi
""")

_SUMMARIES = native("""
INSERT INTO session_summaries (projection_id, session_id, position, covers_position, tokens)
SELECT :p, s.session_id, s.position, s.covers, t.tokens
  FROM unnest(CAST(:sessions AS uuid[]), CAST(:positions AS bigint[]),
              CAST(:covers AS bigint[])) AS s(session_id, position, covers)
  JOIN token_counts t ON t.encoding = :encoding AND t.position = s.position
   AND t.position BETWEEN :lo AND :hi
""")

_ORIGINS_INSERT = native("""
INSERT INTO thread_origins (projection_id, thread_key, parent_session_id, parent_position)
SELECT :p, o.* FROM unnest(CAST(:keys AS text[]), CAST(:parents AS uuid[]),
                           CAST(:positions AS bigint[])) AS o(key, parent, position)
""")

_HEADS_UPSERT = native("""
INSERT INTO session_heads (projection_id, key, session_id, epoch, started_by, last_user_at)
SELECT :p, h.* FROM unnest(CAST(:keys AS text[]), CAST(:sessions AS uuid[]),
                           CAST(:epochs AS integer[]), CAST(:started AS text[]),
                           CAST(:last_user AS timestamptz[]))
                    AS h(key, session_id, epoch, started_by, last_user_at)
ON CONFLICT (projection_id, key) DO UPDATE SET session_id = EXCLUDED.session_id,
    epoch = EXCLUDED.epoch, started_by = EXCLUDED.started_by,
    last_user_at = EXCLUDED.last_user_at
""")

# Every session the batch touched, recomputed from its row, the batch's members, its
# changes and its summaries; then flagged for compaction as the policy says.
_SESSIONS_UPSERT = native("""
WITH members AS (
    SELECT (CAST(:m_sessions AS uuid[]))[f.slot] AS session_id, f.position, e.type, e.chat,
           e.sender, e.occurred_at
      FROM unnest(CAST(:m_slots AS integer[]), CAST(:m_positions AS bigint[]))
           AS f(slot, position)
      JOIN events e ON e.position = f.position AND e.position BETWEEN :lo AND :hi
), added AS (
    SELECT session_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
           max(occurred_at) FILTER (WHERE type = 'message.received') AS last_user_at,
           min(position) AS first_position, max(position) AS last_position,
           array_agg(sender ORDER BY position)
               FILTER (WHERE type = 'message.received' AND sender IS NOT NULL) AS senders,
           array_agg(chat ORDER BY position) FILTER (WHERE chat IS NOT NULL) AS chats
      FROM members GROUP BY session_id
), targets AS (
    SELECT session_id, target, min(position) AS first, max(position) AS last
      FROM unnest(CAST(:c_sessions AS uuid[]), CAST(:c_targets AS bigint[]),
                  CAST(:c_positions AS bigint[])) AS c(session_id, target, position)
     GROUP BY session_id, target
), changed AS (
    -- An edit replaces the target's tokens, a delete or redaction zeroes them: the
    -- session total moves by (tokens after the batch) - (tokens before it), per target.
    SELECT t.session_id, sum(after.tokens - coalesce(before.tokens, m.tokens)) AS delta
      FROM targets t
      CROSS JOIN LATERAL (
          SELECT after.tokens FROM member_changes after
           WHERE after.projection_id = :p AND after.session_id = t.session_id
             AND after.target_position = t.target AND after.position = t.last
          OFFSET 0) after
      CROSS JOIN LATERAL (
          SELECT m.tokens FROM session_members m
           WHERE m.projection_id = :p AND m.session_id = t.session_id AND m.position = t.target
          OFFSET 0) m
      LEFT JOIN LATERAL (
          SELECT mc.tokens FROM member_changes mc
           WHERE mc.projection_id = :p AND mc.session_id = t.session_id
             AND mc.target_position = t.target AND mc.position < t.first
           ORDER BY mc.position DESC LIMIT 1) before ON true
     GROUP BY t.session_id
), summary AS (
    SELECT DISTINCT ON (s.session_id) s.session_id, s.position, s.covers
      FROM unnest(CAST(:s_sessions AS uuid[]), CAST(:s_positions AS bigint[]),
                  CAST(:s_covers AS bigint[])) AS s(session_id, position, covers)
     ORDER BY s.session_id, s.position DESC
), covered AS (
    -- What the summary covers: the session's members up to `covers`, as they stood
    -- when the summary was recorded.
    SELECT s.session_id, s.covers, coalesce(x.seq, 0) AS seq,
           coalesce(x.running_tokens, 0) AS running
      FROM summary s LEFT JOIN LATERAL (
          SELECT m.seq, m.running_tokens FROM session_members m
           WHERE m.projection_id = :p AND m.session_id = s.session_id
             AND m.position <= least(s.covers, s.position)
           ORDER BY m.position DESC LIMIT 1) x ON true
), opened AS (
    SELECT * FROM unnest(CAST(:o_sessions AS uuid[]), CAST(:o_keys AS text[]),
                         CAST(:o_epochs AS integer[]), CAST(:o_started AS text[]),
                         CAST(:o_agents AS text[]), CAST(:o_platforms AS text[]),
                         CAST(:o_legacy AS jsonb[]), CAST(:o_parents AS uuid[]),
                         CAST(:o_parent_positions AS bigint[]))
           AS o(session_id, key, epoch, started_by, agent, platform, legacy_keys,
                parent_session_id, parent_position)
), touched AS (
    SELECT session_id FROM added UNION SELECT session_id FROM changed
    UNION SELECT session_id FROM summary
), merged AS (
    SELECT t.session_id,
           coalesce(s.key, o.key) AS key, coalesce(s.epoch, o.epoch) AS epoch,
           coalesce(s.started_by, o.started_by) AS started_by,
           coalesce(s.agent, o.agent) AS agent, coalesce(s.platform, o.platform) AS platform,
           coalesce(s.legacy_keys, o.legacy_keys) AS legacy_keys,
           least(s.first_at, a.first_at) AS first_at,
           greatest(s.last_at, a.last_at) AS last_at,
           greatest(s.last_user_at, a.last_user_at) AS last_user_at,
           coalesce(s.first_position, a.first_position) AS first_position,
           coalesce(a.last_position, s.last_position) AS last_position,
           coalesce(l.seq, s.message_count) AS message_count,
           coalesce(s.token_total, 0)
               + coalesce(l.running_tokens - coalesce(s.running_total, 0), 0)
               + coalesce(c.delta, 0) AS token_total,
           coalesce(l.running_tokens, s.running_total) AS running_total,
           coalesce(v.covers, s.summary_position) AS summary_position,
           coalesce(v.seq, s.summarized_count, 0) AS summarized_count,
           coalesce(v.running, s.summarized_tokens, 0) AS summarized_tokens,
           CASE WHEN a.senders IS NULL THEN coalesce(s.participants, '{}')
                ELSE ARRAY(SELECT u.x FROM unnest(coalesce(s.participants, '{}') || a.senders)
                           WITH ORDINALITY AS u(x, i) GROUP BY u.x ORDER BY min(u.i))
           END AS participants,
           CASE WHEN a.chats IS NULL THEN coalesce(s.chats, '{}')
                ELSE ARRAY(SELECT u.x FROM unnest(coalesce(s.chats, '{}') || a.chats)
                           WITH ORDINALITY AS u(x, i) GROUP BY u.x ORDER BY min(u.i))
           END AS chats,
           CASE WHEN s.session_id IS NULL THEN o.parent_session_id
                ELSE s.parent_session_id END AS parent_session_id,
           CASE WHEN s.session_id IS NULL THEN o.parent_position
                ELSE s.parent_position END AS parent_position
      FROM touched t
      LEFT JOIN LATERAL (
          SELECT * FROM sessions s
           WHERE s.projection_id = :p AND s.session_id = t.session_id OFFSET 0) s ON true
      LEFT JOIN opened o ON o.session_id = t.session_id
      LEFT JOIN added a ON a.session_id = t.session_id
      -- The session's last member after the batch: its count and running total.
      LEFT JOIN LATERAL (
          SELECT m.seq, m.running_tokens FROM session_members m
           WHERE m.projection_id = :p AND m.session_id = a.session_id
             AND m.position = a.last_position OFFSET 0) l ON true
      LEFT JOIN changed c ON c.session_id = t.session_id
      LEFT JOIN covered v ON v.session_id = t.session_id
), flagged AS (
    SELECT m.*, concat_ws('; ',
        CASE WHEN m.message_count - m.summarized_count >= CAST(:threshold AS integer)
             THEN format('%s messages since the last summary (summarize_threshold %s)',
                         m.message_count - m.summarized_count,
                         CAST(:threshold AS integer)) END,
        CASE WHEN m.running_total - m.summarized_tokens >= CAST(:token_limit AS float8)
             THEN format('%s tokens since the last summary, over %s%% of %s',
                         m.running_total - m.summarized_tokens, CAST(:percent AS text),
                         CAST(:context_limit AS bigint)) END,
        CASE WHEN m.message_count - m.summarized_count > CAST(:max_messages AS integer)
             THEN format('%s messages, over max_messages %s',
                         m.message_count - m.summarized_count,
                         CAST(:max_messages AS integer)) END,
        CASE WHEN g.age > CAST(:max_age AS integer)
             -- rounded half to even, as the minutes are shown everywhere else
             THEN format('%s minutes old, over max_age_minutes %s',
                         CASE WHEN g.age - floor(g.age) = 0.5
                              THEN floor(g.age) + mod(floor(g.age), 2) ELSE round(g.age) END,
                         CAST(:max_age AS integer)) END
    ) AS reasons
      FROM merged m
     CROSS JOIN LATERAL (SELECT extract(epoch FROM m.last_at - m.first_at) / 60 AS age) g
)
INSERT INTO sessions (projection_id, session_id, key, epoch, started_by, agent, platform,
                      legacy_keys, first_at, last_at, last_user_at, first_position,
                      last_position, message_count, token_total, running_total,
                      summary_position, summarized_count, summarized_tokens, participants,
                      chats, parent_session_id, parent_position, needs_summary,
                      summary_reason)
SELECT :p, session_id, key, epoch, started_by, agent, platform, legacy_keys, first_at,
       last_at, last_user_at, first_position, last_position, message_count, token_total,
       running_total, summary_position, summarized_count, summarized_tokens, participants,
       chats, parent_session_id, parent_position, reasons <> '', nullif(reasons, '')
  FROM flagged
ON CONFLICT (projection_id, session_id) DO UPDATE SET
    first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at,
    last_user_at = EXCLUDED.last_user_at, last_position = EXCLUDED.last_position,
    message_count = EXCLUDED.message_count, token_total = EXCLUDED.token_total,
    running_total = EXCLUDED.running_total, summary_position = EXCLUDED.summary_position,
    summarized_count = EXCLUDED.summarized_count,
    summarized_tokens = EXCLUDED.summarized_tokens, participants = EXCLUDED.participants,
    chats = EXCLUDED.chats, needs_summary = EXCLUDED.needs_summary,
    summary_reason = EXCLUDED.summary_reason
""")


@dataclass(frozen=True, slots=True)
class Rows:
    """A batch's decisions as its statements' array parameters (`rows_of`).

    Making them is pure work on the Assignment, so a planned batch makes them on the
    read-ahead thread while the batch before it is written, and the writing thread only
    sends them.
    """

    members: int
    changes: int
    summaries: int
    # Members travel as array literals (one string each, no per-element dumping) and
    # their sessions as 1-based slots into the batch's distinct sessions.
    member_arrays: dict[str, object]
    indexed: str
    change_columns: list[list[Any]]
    summary_columns: list[list[Any]]
    origin_columns: list[list[Any]]
    heads: dict[str, list[Any]]
    opened: dict[str, list[Any]]


def rows_of(out: Assignment) -> Rows:
    slots: dict[uuid.UUID, int] = {}
    for session_id in out.member_sessions:
        slots.setdefault(session_id, len(slots) + 1)
    heads = out.heads
    return Rows(
        len(out.member_positions), len(out.changes), len(out.summaries),
        {"m_sessions": list(slots), "m_slots": _literal(slots[s] for s in out.member_sessions),
         "m_positions": _literal(out.member_positions)},
        "{" + ",".join("t" if i else "f" for i in out.member_indexed) + "}",
        columns(out.changes, 4), columns(out.summaries, 3), columns(out.origins, 3),
        {"keys": [h.key for h in heads], "sessions": [h.session_id for h in heads],
         "epochs": [h.epoch for h in heads], "started": [h.started_by for h in heads],
         "last_user": [h.last_user_at for h in heads]},
        dict(zip(("o_sessions", "o_keys", "o_epochs", "o_started", "o_agents",
                  "o_platforms", "o_legacy", "o_parents", "o_parent_positions"),
                 columns(out.opened, 9), strict=True)))


def write(conn: Connection, projection_id: int, encoding: str, compaction: CompactionPolicy,
          rows: Rows, span: tuple[int, int]) -> int:
    """Write the batch's rows (its decisions, `rows_of`); the number of sessions it touched.

    `span` is (first, last) position of the batch's events.
    """
    p = projection_id
    lo, hi = span
    # A gateway's batch of a few events reuses the prepared generic plans; a build's
    # batch is planned for its own size (`native.run`).
    execute = partial(run, conn, sized=rows.members + rows.changes > SIZED_PLANS_FROM)
    members = rows.member_arrays
    if rows.members:
        dense = 2 * rows.members >= hi - lo + 1
        execute(_MEMBERS if dense else _SPARSE_MEMBERS, {
            "p": p, "lo": lo, "hi": hi, "encoding": encoding,
            "sessions": members["m_sessions"], "slots": members["m_slots"],
            "positions": members["m_positions"], "indexed": rows.indexed})
    changes = rows.change_columns
    if rows.changes:
        execute(_CHANGES, {"p": p, "lo": lo, "hi": hi, "encoding": encoding,
                           "sessions": changes[0], "targets": changes[1],
                           "positions": changes[2], "changes": changes[3]})
    summaries = rows.summary_columns
    if rows.summaries:
        execute(_SUMMARIES, {"p": p, "lo": lo, "hi": hi, "encoding": encoding,
                             "sessions": summaries[0], "positions": summaries[1],
                             "covers": summaries[2]})
    keys, parents, positions = rows.origin_columns
    if keys:
        execute(_ORIGINS_INSERT, {"p": p, "keys": keys, "parents": parents,
                                  "positions": positions})
    if rows.heads["keys"]:
        execute(_HEADS_UPSERT, {"p": p, **rows.heads})
    if not (rows.members or rows.changes or rows.summaries):
        return 0
    return execute(_SESSIONS_UPSERT, {
        "p": p, "lo": lo, "hi": hi, **members,
        "c_sessions": changes[0], "c_targets": changes[1], "c_positions": changes[2],
        "s_sessions": summaries[0], "s_positions": summaries[1], "s_covers": summaries[2],
        **rows.opened, **_compaction(compaction)}).rowcount


def _literal(values: Iterable[int]) -> str:
    """An integer array literal; CAST(... AS bigint[]) reads it on the server."""
    return "{" + ",".join(map(str, values)) + "}"


def _compaction(policy: CompactionPolicy) -> dict[str, object]:
    """The policy's thresholds as parameters; None leaves a rule out (NULL compares false)."""
    return {
        "threshold": policy.summarize_threshold or None,
        "token_limit": policy.context_limit_tokens * policy.summarize_token_percent / 100,
        "percent": f"{policy.summarize_token_percent}",
        "context_limit": policy.context_limit_tokens,
        "max_messages": policy.max_messages,
        "max_age": policy.max_age_minutes,
    }

