"""The set-based fold's statements: a batch's decisions as SQL over its range of positions.

Each statement works on temporary tables that live until the batch commits
(`ON COMMIT DROP`, dropped first so that a quarantine's savepoints can fold
several chunks in one transaction): `sf_ev` the batch's events, `sf_addr` the
resolved addresses, `sf_ref` the message references the batch names, `sf_k`
every event that moves a head (with its epoch), `sf_sid` the session id of
each (key, epoch), `sf_m` the members with their sessions. Placeholders are
`:name`; `projections.projector.sqlfold` turns them into the driver's.
"""

from __future__ import annotations

# Settings for the batch's transaction. No JIT: the planner cannot estimate temporary
# tables, thinks the statements costly and compiles them, which took more time than
# running them (over half the server's time, measured). Memory for the sorts and the
# temporary tables: temp_buffers can only be set before a session first touches a
# temporary table, so a connection that already did keeps what it had.
SETTINGS = """
SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true),
       CASE WHEN pg_my_temp_schema() = 0 THEN set_config('temp_buffers', '64MB', false) END
"""

# Dropped before a fold starts: an earlier chunk of the same transaction may have left them.
DROP_TEMP_TABLES = ("DROP TABLE IF EXISTS sf_ev, sf_addr, sf_named, sf_ref, sf_x, sf_h, sf_k, "
                    "sf_sid, sf_m, sf_sum, sf_org, sf_chg, sf_sv")

# The batch's events. `kind` 0 is resolved by the event's address, 1 by the agent's own
# (its sender only present or not), 2 not at all (a summary names its session). `addr`
# numbers the distinct addresses as the resolver's memo tells them apart.
EVENTS = """
CREATE TEMP TABLE sf_ev ON COMMIT DROP AS
SELECT e.position AS pos, e.type, e.agent, e.platform, e.account, e.space, e.chat,
       e.chat_type, e.topic, e.sender, e.message_id, e.reply_to, e.occurred_at AS at,
       false AS trig,
       CASE WHEN e.type = 'thread.created'
                 AND jsonb_typeof(e.payload -> 'parent_message_id') = 'string'
            THEN nullif(e.payload ->> 'parent_message_id', '') END AS tref,
       -- Byte order: only equal addresses need equal numbers, and it sorts fastest.
       dense_rank() OVER (ORDER BY g.kind, e.agent COLLATE "C", e.platform COLLATE "C",
                                   e.account COLLATE "C", e.space COLLATE "C",
                                   e.chat COLLATE "C", e.chat_type COLLATE "C",
                                   e.topic COLLATE "C", g.sender COLLATE "C") AS addr
  FROM events e
 CROSS JOIN LATERAL (
     SELECT CASE WHEN e.type IN ('message.sent', 'tool.used') THEN 1
                 WHEN e.type = 'summary.recorded' THEN 2 ELSE 0 END AS kind,
            CASE WHEN e.type NOT IN ('message.sent', 'tool.used', 'summary.recorded')
                      AND (CAST(:sender_matters AS boolean) OR e.chat_type = 'dm')
                 THEN e.sender ELSE CAST(e.sender IS NOT NULL AS text) END AS sender) g
 WHERE e.position BETWEEN :lo AND :hi
"""

# Only when the batch is not the whole range (a slice of a parallel build).
KEEP_ONLY = "DELETE FROM sf_ev WHERE NOT (pos = ANY(CAST(:positions AS bigint[])))"

# One event per distinct address, the first: what the resolver is asked about.
ADDRESSES = """
SELECT DISTINCT ON (addr) addr, pos, type, agent, platform, account, space, chat, chat_type,
       topic, sender, reply_to
  FROM sf_ev WHERE type <> 'summary.recorded' ORDER BY addr, pos
"""

# Received texts that might be reset triggers: their first character is a trigger's
# initial or a space, as `CompiledPolicy.is_reset_trigger` prefilters.
TRIGGER_CANDIDATES = """
SELECT e.pos, left(coalesce(c.text, c.command), CAST(:chars AS integer))
  FROM sf_ev e JOIN event_content c ON c.position = e.pos
 WHERE e.type = 'message.received'
   AND left(coalesce(c.text, c.command), 1) = ANY(CAST(:initials AS text[]))
"""

MARK_TRIGGERS = "UPDATE sf_ev SET trig = true WHERE pos = ANY(CAST(:positions AS bigint[]))"

# Payload fields read in Python: summaries' targets, and thread parents that are not
# strings (Python spells them with str()).
PAYLOADS = """
SELECT e.position, e.type, e.payload -> 'session_id', e.payload -> 'position',
       e.payload -> 'parent_message_id'
  FROM events e JOIN sf_ev b ON b.pos = e.position
 WHERE e.position BETWEEN :lo AND :hi
   AND (e.type = 'summary.recorded'
        OR (e.type = 'thread.created'
            AND jsonb_typeof(e.payload -> 'parent_message_id') NOT IN ('string', 'null')))
"""

SET_THREAD_REFS = """
UPDATE sf_ev SET tref = r.ref
  FROM unnest(CAST(:positions AS bigint[]), CAST(:refs AS text[])) AS r(pos, ref)
 WHERE sf_ev.pos = r.pos
"""

# The first event whose time the fold's calendar arithmetic cannot handle.
OUT_OF_RANGE = """
SELECT pos, at FROM sf_ev
 WHERE at < TIMESTAMPTZ '0002-01-01 00:00:00+00' OR at >= TIMESTAMPTZ '9998-01-01 00:00:00+00'
 ORDER BY pos LIMIT 1
"""

CREATE_ADDR = """
CREATE TEMP TABLE sf_addr ON COMMIT DROP AS
SELECT * FROM unnest(CAST(:addrs AS bigint[]), CAST(:keys AS text[]),
                     CAST(:legacy AS jsonb[]), CAST(:threads AS boolean[]),
                     CAST(:parents AS text[]))
       AS a(addr, key, legacy, is_thread, parent_key)
"""

CREATE_SUMMARIES = """
CREATE TEMP TABLE sf_sum ON COMMIT DROP AS
SELECT * FROM unnest(CAST(:positions AS bigint[]), CAST(:sessions AS uuid[]),
                     CAST(:covers AS bigint[])) AS s(pos, session_id, covers)
"""

# Every message reference the batch names (members' own ids, replies' and changes'
# targets, thread parents), numbered (`rid`) so that later joins compare integers:
# role 0 is an event's own message id, role 1 the message it answers or branches from.
REF_NAMES = """
CREATE TEMP TABLE sf_named ON COMMIT DROP AS
WITH named AS (
    SELECT pos, 0 AS role,
           type IN ('message.sent', 'tool.used') OR (type = 'message.received' AND NOT trig)
               AS member,
           agent, platform, account, chat, message_id AS ref
      FROM sf_ev
     WHERE chat <> '' AND message_id <> ''
       AND type IN ('message.received', 'message.sent', 'tool.used', 'message.edited',
                    'message.deleted', 'content.redacted')
    UNION ALL
    SELECT pos, 1, false, agent, platform, account, chat, reply_to FROM sf_ev
     WHERE chat <> '' AND reply_to <> '' AND type IN ('message.sent', 'tool.used')
    UNION ALL
    SELECT pos, 1, false, agent, platform, account, chat, tref FROM sf_ev
     WHERE chat <> '' AND tref IS NOT NULL
)
SELECT pos, role, member, agent, platform, account, chat, ref,
       dense_rank() OVER (ORDER BY agent COLLATE "C", platform COLLATE "C",
                                   account COLLATE "C", chat COLLATE "C",
                                   ref COLLATE "C") AS rid
  FROM named
"""

# Each reference once, with the first member carrying it: in the stored index (an
# earlier batch) or else in this batch.
REFS = """
CREATE TEMP TABLE sf_ref ON COMMIT DROP AS
SELECT g.rid, g.first, i.session_id AS stored_session, i.position AS stored_position
  FROM (SELECT DISTINCT ON (rid) rid, agent, platform, account, chat, ref,
               min(pos) FILTER (WHERE member) OVER (PARTITION BY rid) AS first
          FROM sf_named ORDER BY rid) g
  LEFT JOIN message_index i ON i.projection_id = :p AND i.agent = g.agent
   AND i.platform = g.platform AND i.account = g.account AND i.chat = g.chat
   AND i.message_id = g.ref
"""

# Per event: its own reference (rid) and the one it answers or branches from (tid).
EVENT_REFS = """
CREATE TEMP TABLE sf_x ON COMMIT DROP AS
SELECT pos, max(rid) FILTER (WHERE role = 0) AS rid, max(rid) FILTER (WHERE role = 1) AS tid
  FROM sf_named GROUP BY pos
"""

# The stored heads of the batch's keys, and whether each one's session was opened.
HEADS = """
CREATE TEMP TABLE sf_h ON COMMIT DROP AS
    -- Looked up key by key: a projection holds far more heads than a batch touches.
    SELECT h.*, o.opened
      FROM (SELECT DISTINCT key FROM sf_addr) a
      JOIN LATERAL (SELECT * FROM session_heads h
                     WHERE h.projection_id = :p AND h.key = a.key) h ON true
      LEFT JOIN LATERAL (SELECT true AS opened FROM sessions s
                          WHERE s.projection_id = :p AND s.session_id = h.session_id) o ON true
"""

# The events that move a head, per key in position order: R a user message, T a reset
# trigger, S a session.reset, O an agent's output that answers no known message. The
# key's session exists before an event when the previous one was R or O (for the
# first, when the stored head's session exists); T always starts a new epoch, S when
# the session exists, R when it exists and the idle gap or daily boundary says so.
KEY_EVENTS = """
CREATE TEMP TABLE sf_k ON COMMIT DROP AS
WITH keyed AS (
    SELECT e.pos, e.at, e.addr, a.key,
           CASE WHEN e.type = 'message.received' THEN CASE WHEN e.trig THEN 'T' ELSE 'R' END
                WHEN e.type = 'session.reset' THEN 'S' ELSE 'O' END AS kind
      FROM sf_ev e JOIN sf_addr a ON a.addr = e.addr
      LEFT JOIN sf_x x ON x.pos = e.pos
      LEFT JOIN sf_ref r ON r.rid = x.tid
     WHERE e.type IN ('message.received', 'session.reset', 'message.sent', 'tool.used')
       AND NOT coalesce(r.stored_session IS NOT NULL OR r.first < e.pos, false)
), stepped AS (
    SELECT k.*, h.epoch AS head_epoch, h.started_by AS head_started_by,
           h.session_id AS head_session, h.last_user_at AS head_last_user_at,
           CASE WHEN lag(k.kind) OVER w IS NULL THEN coalesce(h.opened, false)
                ELSE lag(k.kind) OVER w IN ('R', 'O') END AS existed,
           max(k.at) FILTER (WHERE k.kind = 'R') OVER w AS last_user
      FROM keyed k LEFT JOIN sf_h h ON h.key = k.key
    WINDOW w AS (PARTITION BY k.key COLLATE "C" ORDER BY k.pos)
), before AS (
    -- The last user message before each event (a frame ending at 1 PRECEDING would
    -- restart the aggregate at every row).
    SELECT t.*, greatest(t.head_last_user_at, lag(t.last_user) OVER (
               PARTITION BY t.key COLLATE "C" ORDER BY t.pos)) AS last_user_before
      FROM stepped t
), reasoned AS (
    SELECT t.*, CASE t.kind WHEN 'T' THEN 'trigger'
                            WHEN 'S' THEN CASE WHEN t.existed THEN 'session.reset' END
                            WHEN 'R' THEN CASE WHEN t.existed THEN c.timed END END AS reason
      FROM before t
     CROSS JOIN LATERAL (
         SELECT CASE
             WHEN :mode = 'none' OR t.last_user_before IS NULL OR t.at <= t.last_user_before
                 THEN NULL
             WHEN :mode IN ('idle', 'both')
                  AND t.at - t.last_user_before > make_interval(mins => CAST(:idle AS integer))
                 THEN 'idle'
             WHEN :mode IN ('daily', 'both')
                  AND (t.last_user_before AT TIME ZONE :zone) < d.boundary - CASE
                      WHEN d.boundary > (t.at AT TIME ZONE :zone) THEN INTERVAL '1 day'
                      ELSE INTERVAL '0' END
                 THEN 'daily' END AS timed
           FROM (SELECT date_trunc('day', t.at AT TIME ZONE :zone)
                        + make_interval(hours => CAST(:at_hour AS integer)) AS boundary) d
     ) c
), counted AS (
    SELECT r.*, count(r.reason) OVER (PARTITION BY r.key COLLATE "C" ORDER BY r.pos) AS resets
      FROM reasoned r
)
SELECT c.pos, c.at, c.addr, c.key, c.kind, c.head_session,
       c.head_last_user_at,
       coalesce(c.head_epoch, 0) + c.resets AS epoch,
       CASE WHEN c.resets = 0 THEN coalesce(c.head_started_by, 'first message')
            ELSE max(c.reason) OVER (PARTITION BY c.key COLLATE "C", c.resets) END AS started_by,
       c.reason IS NOT NULL AS reset,
       c.kind IN ('R', 'O') AND (c.reason IS NOT NULL OR NOT c.existed) AS opens
  FROM counted c
"""

DISTINCT_EPOCHS = "SELECT DISTINCT key, epoch FROM sf_k"

# Statistics for the planner, which otherwise guesses a temporary table's rows from
# its pages and sorts where a hash would do.
INDEX_KEY_EVENTS = "CREATE INDEX ON sf_k (key, pos)"

CREATE_SIDS = """
CREATE TEMP TABLE sf_sid ON COMMIT DROP AS
SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:epochs AS integer[]),
                     CAST(:sessions AS uuid[])) AS s(key, epoch, session_id)
"""

# Members and their sessions: R and O join their key's session at their epoch; an
# agent's output that answers a known message joins that message's session, which
# may itself be an answer: followed to the first member that is not.
MEMBERS = """
CREATE TEMP TABLE sf_m ON COMMIT DROP AS
WITH RECURSIVE answers AS (
    SELECT e.pos, r.stored_session, CASE WHEN r.stored_session IS NULL THEN r.first END AS tpos
      FROM sf_ev e JOIN sf_x x ON x.pos = e.pos JOIN sf_ref r ON r.rid = x.tid
     WHERE e.type IN ('message.sent', 'tool.used')
       AND (r.stored_session IS NOT NULL OR r.first < e.pos)
), placed(pos, session_id) AS (
    SELECT k.pos, s.session_id FROM sf_k k
      JOIN sf_sid s ON s.key = k.key AND s.epoch = k.epoch
     WHERE k.kind IN ('R', 'O')
    UNION ALL
    SELECT pos, stored_session FROM answers WHERE stored_session IS NOT NULL
    UNION ALL
    SELECT a.pos, p.session_id FROM placed p JOIN answers a ON a.tpos = p.pos
)
SELECT p.pos, p.session_id,
       coalesce(r.first = p.pos AND r.stored_session IS NULL, false) AS indexed
  FROM placed p
  LEFT JOIN sf_x x ON x.pos = p.pos
  LEFT JOIN sf_ref r ON r.rid = x.rid
"""

# Thread origins: the first thread.created of a thread key without one whose parent
# is found, by its parent message or else by the parent key's head at that point
# (moved by every R, T and O, and by an S that reset it).
ORIGINS = """
CREATE TEMP TABLE sf_org ON COMMIT DROP AS
SELECT DISTINCT ON (a.key) a.key, coalesce(r.stored_session, m.session_id, ph.session_id)
       AS parent, e.pos AS position
  FROM sf_ev e JOIN sf_addr a ON a.addr = e.addr
  LEFT JOIN sf_x x ON x.pos = e.pos
  LEFT JOIN sf_ref r ON r.rid = x.tid
  LEFT JOIN sf_m m ON r.stored_session IS NULL AND m.pos = r.first AND r.first < e.pos
  LEFT JOIN LATERAL (
      SELECT coalesce(
          (SELECT s.session_id FROM sf_k k JOIN sf_sid s ON s.key = k.key AND s.epoch = k.epoch
            WHERE k.key = a.parent_key AND k.pos < e.pos AND (k.kind <> 'S' OR k.reset)
            ORDER BY k.pos DESC LIMIT 1),
          (SELECT h.session_id FROM session_heads h
            WHERE h.projection_id = :p AND h.key = a.parent_key)) AS session_id
  ) ph ON a.parent_key IS NOT NULL
 WHERE e.type = 'thread.created' AND a.is_thread
   AND coalesce(r.stored_session, m.session_id, ph.session_id) IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM thread_origins o
                    WHERE o.projection_id = :p AND o.thread_key = a.key)
 ORDER BY a.key, e.pos
"""
