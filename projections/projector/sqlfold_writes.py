"""The set-based fold's writes: the rows of a batch, from the temporary tables its decisions fill.

The same statements as `projections.projector.sets` writes with, fed from
`sf_m` (members), `sf_k` (head moves), `sf_sum` (summaries), `sf_org` (thread
origins) and the batch's events instead of arrays built in Python. Changes
and summaries are decided here too, since each is one join away from the
members: a change hits the first member carrying its message id, a summary
moves its session's summary forward when the session exists by then.
"""

from __future__ import annotations

WRITE_MEMBERS = """
WITH batch AS (
    SELECT m.session_id, m.pos AS position, m.indexed, t.tokens, e.type, e.agent, e.platform,
           e.account, e.chat, e.message_id, e.sender,
           row_number() OVER w AS n, sum(t.tokens) OVER w AS run
      FROM sf_m m
      JOIN sf_ev e ON e.pos = m.pos
      JOIN token_counts t ON t.encoding = :encoding AND t.position = m.pos
       AND t.position BETWEEN :lo AND :hi
    WINDOW w AS (PARTITION BY m.session_id ORDER BY m.pos)
), indexed AS (
    INSERT INTO message_index (projection_id, agent, platform, account, chat, message_id,
                               session_id, position)
    SELECT :p, agent, platform, account, chat, message_id, session_id, position
      FROM batch WHERE indexed
)
INSERT INTO session_members (projection_id, session_id, position, kind, message_id, sender,
                             seq, tokens, running_tokens)
SELECT :p, b.session_id, b.position,
       CASE b.type WHEN 'message.received' THEN 'user' WHEN 'message.sent' THEN 'assistant'
                   ELSE 'tool' END,
       b.message_id, b.sender, coalesce(s.message_count, 0) + b.n, b.tokens,
       coalesce(s.running_total, 0) + b.run
  FROM batch b
  LEFT JOIN sessions s ON s.projection_id = :p AND s.session_id = b.session_id
"""

# Edits, deletes and redactions of a message that is a member by then.
CHANGES = """
CREATE TEMP TABLE sf_chg ON COMMIT DROP AS
SELECT coalesce(r.stored_session, m.session_id) AS session_id,
       coalesce(r.stored_position, r.first) AS target, e.pos AS position,
       CASE e.type WHEN 'message.edited' THEN 'edited' WHEN 'message.deleted' THEN 'deleted'
                   ELSE 'redacted' END AS change,
       CASE WHEN e.type = 'message.edited' THEN t.tokens ELSE 0 END AS tokens
  FROM sf_ev e
  JOIN sf_x x ON x.pos = e.pos
  JOIN sf_ref r ON r.rid = x.rid
  LEFT JOIN sf_m m ON r.stored_session IS NULL AND m.pos = r.first
  LEFT JOIN token_counts t ON t.encoding = :encoding AND t.position = e.pos
   AND t.position BETWEEN :lo AND :hi
 WHERE e.type IN ('message.edited', 'message.deleted', 'content.redacted')
   AND e.chat <> '' AND e.message_id <> ''
   AND (r.stored_session IS NOT NULL OR r.first < e.pos)
"""

WRITE_CHANGES = """
INSERT INTO member_changes (projection_id, session_id, target_position, position, change,
                            tokens)
SELECT :p, session_id, target, position, change, tokens FROM sf_chg
"""

# Summaries that move their session's summary forward: the session exists at the
# summary (stored, or opened earlier in the batch) and the summary covers more than
# the session's summary so far.
SUMMARIES = """
CREATE TEMP TABLE sf_sv ON COMMIT DROP AS
WITH opened AS (
    SELECT x.session_id, k.pos FROM sf_k k JOIN sf_sid x ON x.key = k.key AND x.epoch = k.epoch
     WHERE k.opens
), live AS (
    SELECT u.pos, u.session_id, u.covers, s.summary_position
      FROM sf_sum u
      LEFT JOIN sessions s ON s.projection_id = :p AND s.session_id = u.session_id
      LEFT JOIN opened o ON o.session_id = u.session_id AND o.pos < u.pos
     WHERE s.session_id IS NOT NULL OR o.pos IS NOT NULL
), moved AS (
    SELECT l.*, greatest(l.summary_position, max(l.covers) OVER (
               PARTITION BY l.session_id ORDER BY l.pos
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS before
      FROM live l
)
SELECT m.session_id, m.pos AS position, m.covers, t.tokens
  FROM moved m
  JOIN token_counts t ON t.encoding = :encoding AND t.position = m.pos
   AND t.position BETWEEN :lo AND :hi
 WHERE m.before IS NULL OR m.covers > m.before
"""

WRITE_SUMMARIES = """
INSERT INTO session_summaries (projection_id, session_id, position, covers_position, tokens)
SELECT :p, session_id, position, covers, tokens FROM sf_sv
"""

WRITE_ORIGINS = """
INSERT INTO thread_origins (projection_id, thread_key, parent_session_id, parent_position)
SELECT :p, key, parent, position FROM sf_org
"""

# Every key the batch moved or created a head for, with its state after the batch.
WRITE_HEADS = """
INSERT INTO session_heads (projection_id, key, session_id, epoch, started_by, last_user_at)
SELECT DISTINCT ON (k.key) :p, k.key, s.session_id, k.epoch, k.started_by,
       greatest(k.head_last_user_at, k.last_r)
  FROM (SELECT k.*, bool_or(k.kind <> 'S') OVER w AS moved,
               max(k.at) FILTER (WHERE k.kind = 'R') OVER w AS last_r
          FROM sf_k k WINDOW w AS (PARTITION BY k.key)) k
  JOIN sf_sid s ON s.key = k.key AND s.epoch = k.epoch
 WHERE k.moved OR k.head_session IS NOT NULL
 ORDER BY k.key, k.pos DESC
ON CONFLICT (projection_id, key) DO UPDATE SET session_id = EXCLUDED.session_id,
    epoch = EXCLUDED.epoch, started_by = EXCLUDED.started_by,
    last_user_at = EXCLUDED.last_user_at
"""

# Every session the batch touched, recomputed from its row, the batch's members, its
# changes and its summaries; then flagged for compaction as the policy says.
WRITE_SESSIONS = """
WITH members AS (
    SELECT m.session_id, m.pos AS position, e.type, e.chat, e.sender, e.at AS occurred_at
      FROM sf_m m JOIN sf_ev e ON e.pos = m.pos
), added AS (
    SELECT session_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
           max(occurred_at) FILTER (WHERE type = 'message.received') AS last_user_at,
           min(position) AS first_position, max(position) AS last_position,
           array_agg(sender ORDER BY position)
               FILTER (WHERE type = 'message.received' AND sender IS NOT NULL) AS senders,
           array_agg(chat ORDER BY position) FILTER (WHERE chat IS NOT NULL) AS chats
      FROM members GROUP BY session_id
), last_member AS (
    SELECT a.session_id, m.seq, m.running_tokens
      FROM added a JOIN session_members m ON m.projection_id = :p
       AND m.session_id = a.session_id AND m.position = a.last_position
), targets AS (
    SELECT session_id, target, min(position) AS first, max(position) AS last
      FROM sf_chg GROUP BY session_id, target
), changed AS (
    -- An edit replaces the target's tokens, a delete or redaction zeroes them: the
    -- session total moves by (tokens after the batch) - (tokens before it), per target.
    SELECT t.session_id, sum(after.tokens - coalesce(before.tokens, m.tokens)) AS delta
      FROM targets t
      JOIN member_changes after ON after.projection_id = :p
       AND after.session_id = t.session_id AND after.target_position = t.target
       AND after.position = t.last
      JOIN session_members m ON m.projection_id = :p AND m.session_id = t.session_id
       AND m.position = t.target
      LEFT JOIN LATERAL (
          SELECT mc.tokens FROM member_changes mc
           WHERE mc.projection_id = :p AND mc.session_id = t.session_id
             AND mc.target_position = t.target AND mc.position < t.first
           ORDER BY mc.position DESC LIMIT 1) before ON true
     GROUP BY t.session_id
), summary AS (
    SELECT DISTINCT ON (s.session_id) s.session_id, s.position, s.covers
      FROM sf_sv s ORDER BY s.session_id, s.position DESC
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
    -- A thread's session opened after its origin is known starts from its parent.
    SELECT s.session_id, k.key, k.epoch, k.started_by, e.agent, e.platform,
           a.legacy AS legacy_keys, g.parent AS parent_session_id,
           g.position AS parent_position
      FROM sf_k k JOIN sf_sid s ON s.key = k.key AND s.epoch = k.epoch
      JOIN sf_ev e ON e.pos = k.pos
      JOIN sf_addr a ON a.addr = k.addr
      LEFT JOIN LATERAL (
          SELECT o.parent_session_id AS parent, o.parent_position AS position
            FROM thread_origins o WHERE o.projection_id = :p AND o.thread_key = k.key
           UNION ALL
          SELECT b.parent, b.position FROM sf_org b WHERE b.key = k.key AND b.position < k.pos
           LIMIT 1) g ON a.is_thread AND CAST(:inherit AS boolean)
     WHERE k.opens
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
      LEFT JOIN sessions s ON s.projection_id = :p AND s.session_id = t.session_id
      LEFT JOIN opened o ON o.session_id = t.session_id
      LEFT JOIN added a ON a.session_id = t.session_id
      LEFT JOIN last_member l ON l.session_id = t.session_id
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
"""
