"""Erasure finds its events by index, and holds appends back only for the newest ones.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

- `ix_events_sender` (sender, platform): `convlog erase --sender` looked a person's
  events up by a scan of the whole log, holding the append lock all the while, so
  every gateway's appends waited for it.
- `convlog_erase` finds what it erases in two steps: everything committed when it
  starts, without the lock; then, under the append lock, only the events appended
  since (positions above the highest it saw, which appends draw in commit order).
  An event being appended during the erasure is still either erased with it or
  appended after it, never half of each. The old function is restored on downgrade.
"""

import importlib.util
from pathlib import Path

from sqlalchemy import text

from alembic import op
from eventlog.schema import APPEND_LOCK_KEY, ERASURES_CHANNEL

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# What a selector matches among events after position `seen` (0: all of them). With
# `seen`, the events after it are read by position (the few appended since), each
# checked against the selector, so the look under the append lock costs what was
# appended since, not the sender's or the chat's whole history.
ERASE = """
CREATE OR REPLACE FUNCTION convlog_erase_members(kind text, targets jsonb, seen bigint)
    RETURNS bigint[] LANGUAGE plpgsql STABLE SET search_path = {path}, pg_temp AS $$
DECLARE
    members bigint[];
BEGIN
    IF seen > 0 THEN
        SELECT coalesce(array_agg(e.position), '{{}}') INTO members
          FROM events e
         WHERE e.position > seen AND CASE kind
            WHEN 'sender' THEN EXISTS (
                SELECT 1 FROM jsonb_array_elements(targets) AS t
                 WHERE t->>'sender' = e.sender
                   AND (t->>'platform' IS NULL OR t->>'platform' = e.platform))
              OR (e.message_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM events o JOIN jsonb_array_elements(targets) AS t
                    ON t->>'sender' = o.sender
                   AND (t->>'platform' IS NULL OR t->>'platform' = o.platform)
                 WHERE o.platform = e.platform AND o.chat = e.chat
                   AND o.message_id = e.message_id))
            WHEN 'message' THEN EXISTS (
                SELECT 1 FROM jsonb_array_elements(targets) AS t
                 WHERE t->>'platform' = e.platform AND t->>'chat' = e.chat
                   AND t->>'message_id' = e.message_id)
            WHEN 'chat' THEN EXISTS (
                SELECT 1 FROM jsonb_array_elements(targets) AS t
                 WHERE t->>'platform' = e.platform AND t->>'chat' = e.chat)
            ELSE false END;
        RETURN members;
    END IF;
    IF kind = 'sender' THEN
        -- Their own events, and every event about a message they wrote (its edits,
        -- deletions, redactions, by any agent): among new events, those about their
        -- messages old or new.
        WITH ids AS (
            SELECT t->>'platform' AS platform, t->>'sender' AS sender
              FROM jsonb_array_elements(targets) AS t),
        own AS (
            SELECT e.position, e.platform, e.chat, e.message_id FROM events e
              JOIN ids ON e.sender = ids.sender
               AND (ids.platform IS NULL OR e.platform = ids.platform)),
        written AS (
            SELECT DISTINCT platform, chat, message_id FROM own
             WHERE message_id IS NOT NULL)
        SELECT coalesce(array_agg(DISTINCT x.position), '{{}}') INTO members FROM (
            SELECT own.position FROM own WHERE own.position > seen
            UNION ALL
            SELECT e.position FROM written w JOIN events e ON e.platform = w.platform
               AND e.chat = w.chat AND e.message_id = w.message_id
             WHERE e.position > seen) AS x;
    ELSIF kind IN ('message', 'chat') THEN
        SELECT coalesce(array_agg(DISTINCT e.position), '{{}}') INTO members
          FROM jsonb_array_elements(targets) AS t
          JOIN events e ON e.platform = t->>'platform' AND e.chat = t->>'chat'
           AND (kind = 'chat' OR e.message_id = t->>'message_id')
         WHERE e.position > seen;
    ELSE
        RAISE EXCEPTION 'unknown erasure kind %: sender, message or chat', kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN members;
END $$;

CREATE OR REPLACE FUNCTION convlog_erase(kind text, selector text, targets jsonb, reason text,
                                         dry_run boolean DEFAULT false)
    RETURNS TABLE (erasure bigint, matched integer, contents integer, summaries integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
#variable_conflict use_column
DECLARE
    members bigint[];
    seen bigint;
    result record;
    id bigint;
BEGIN
    IF reason IS NULL OR length(btrim(reason)) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'an erasure needs a reason of 1 to 1000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(targets) IS DISTINCT FROM 'array' OR jsonb_array_length(targets) = 0 THEN
        RAISE EXCEPTION 'an erasure needs a non-empty array of targets'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- What is committed now, found without holding appends back.
    seen := (SELECT coalesce(max(e.position), 0) FROM events e);
    members := convlog_erase_members(kind, targets, 0);
    IF NOT dry_run THEN
        -- Serialized with appends: what was appended since is found under the lock,
        -- so an event being appended now is either erased here or appended after.
        PERFORM pg_advisory_xact_lock({lock});
        members := members || convlog_erase_members(kind, targets, seen);
        members := ARRAY(SELECT DISTINCT m FROM unnest(members) AS m);
    END IF;
    IF dry_run THEN
        RETURN QUERY SELECT NULL::bigint, cardinality(members),
            (SELECT count(*)::integer FROM event_content c
              WHERE c.position = ANY(members) AND c.erased_by IS NULL),
            (SELECT count(*)::integer FROM event_content c
              WHERE c.position = ANY(convlog_summaries_of(members))
                AND c.erased_by IS NULL AND NOT c.position = ANY(members));
        RETURN;
    END IF;
    id := nextval(pg_get_serial_sequence('erasures', 'id'));
    result := convlog_erase_positions(members, id);
    INSERT INTO erasures (id, erased_by, kind, selector, targets, reason, events_matched,
                          contents_erased, summaries_erased, head)
    VALUES (id, session_user, kind, selector, targets, btrim(reason), cardinality(members),
            result.contents, result.summaries,
            (SELECT coalesce(max(e.position), 0) FROM events e));
    -- The planner's samples of event_content (pg_statistic) may hold erased values.
    ANALYZE event_content;
    PERFORM pg_notify('{channel}', id::text);
    RETURN QUERY SELECT id, cardinality(members), result.contents, result.summaries;
END $$;
REVOKE ALL ON FUNCTION convlog_erase_members(text, jsonb, bigint) FROM PUBLIC;
"""


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_sender ON events (sender, platform)")
    op.execute(ERASE.format(path=_schema_path(), lock=APPEND_LOCK_KEY,
                            channel=ERASURES_CHANNEL))


def _old_erase() -> str:
    """0005's convlog_erase (everything found under the lock), read from that revision."""
    path = Path(__file__).with_name("0005_erasure_and_roles.py")
    spec = importlib.util.spec_from_file_location("convlog_revision_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions: str = module.FUNCTIONS
    start = functions.index("CREATE FUNCTION convlog_erase(kind text")
    end = functions.index("-- CREATE TABLE ... PARTITION OF", start)
    return functions[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def downgrade() -> None:
    op.execute(_old_erase().format(path=_schema_path(), lock=APPEND_LOCK_KEY,
                                   channel=ERASURES_CHANNEL))
    op.execute("DROP FUNCTION convlog_erase_members(text, jsonb, bigint)")
    op.execute("DROP INDEX ix_events_sender")
