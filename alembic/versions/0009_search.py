"""Full-text search over the log, and retention applied as erasure.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

- `search_documents`: one row per message event with text (`message.received`,
  `message.sent`, `message.edited`): the envelope columns searches filter on and a
  `tsvector` of the text, GIN-indexed. Derived from the log, off the append path:
  `convlog_search_index(upto, max_events)` indexes what lies between the watermark and
  `upto`, and every search calls it first, so a search never misses an appended event.
- `search_state`: the text search configuration the index was built with and the
  watermark (`indexed_upto`), one row.
- Erasure reaches the index in the same transaction: a statement trigger on
  `event_content` deletes the rows of every erased position, and a row trigger on the
  audit re-analyses `search_documents` after each erasure (its planner statistics
  sample lexemes). Indexing and erasure take one advisory lock, so an index batch
  that read a text before an erasure committed is deleted by that erasure, and one
  that starts after it reads the erased (empty) content.
- `convlog_retention_targets(rules, as_of, encoding)`: the events a rule set erases
  (first matching rule wins); `convlog_retain` erases them through the same path as
  `convlog_erase`, with one audit row (`kind = 'retention'`) per run.
- `message_search`: the analysts' view (position, address, sender, time, text, document).
- `convlog_settle_privileges()` is wrapped: workers read the index but write it only
  through `convlog_search_index`; readers get the view and may bring the index up to date.
"""

from sqlalchemy import text

from alembic import context, op
from eventlog.schema import APPEND_LOCK_KEY, ERASURES_CHANNEL, DataLossRefused

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Taken by every index batch and by every erasure that reaches the index.
SEARCH_LOCK_KEY = 0x636F6E76736561  # "convsea"
INDEXED_TYPES = "'message.received', 'message.sent', 'message.edited'"

TABLES = """
CREATE TABLE search_documents (
    position     bigint PRIMARY KEY,
    type         text NOT NULL,
    agent        text NOT NULL,
    platform     text NOT NULL,
    account      text NOT NULL,
    space        text,
    chat         text,
    chat_type    text,
    sender       text,
    message_id   text,
    occurred_at  timestamptz NOT NULL,
    document     tsvector NOT NULL
);
-- A page combines the GIN match with a position range (the primary key); the chat and
-- sender indexes keep a filter on a small chat or a rare sender from reading every
-- match of the word (they cost the index build about a third of its speed).
CREATE INDEX ix_search_documents_document ON search_documents USING gin (document);
CREATE INDEX ix_search_documents_chat ON search_documents (platform, chat, position);
CREATE INDEX ix_search_documents_sender ON search_documents (platform, sender, position);

CREATE TABLE search_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    config       text NOT NULL DEFAULT 'simple',
    indexed_upto bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO search_state DEFAULT VALUES;

ALTER TABLE erasures DROP CONSTRAINT erasures_kind_check;
ALTER TABLE erasures ADD CONSTRAINT erasures_kind_check
    CHECK (kind IN ('sender', 'message', 'chat', 'redaction', 'retention'));
"""

FUNCTIONS = """
-- Index the message events after the watermark, up to `upto` (at most `max_events`
-- positions per call); returns the new watermark. Appends are serialized, so every
-- position at or below max(position) is committed and final: nothing is skipped.
CREATE FUNCTION convlog_search_index(upto bigint, max_events integer DEFAULT 1000000)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
DECLARE
    done bigint;
    cfg regconfig;
    target bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({search_lock});
    SELECT s.indexed_upto, s.config::regconfig INTO done, cfg FROM search_state s;
    target := least(coalesce(upto, 9223372036854775807),
                    (SELECT coalesce(max(e.position), 0) FROM events e),
                    done + greatest(max_events, 1));
    IF target <= done THEN
        RETURN done;
    END IF;
    INSERT INTO search_documents
    SELECT * FROM (
        SELECT e.position, e.type, e.agent, e.platform, e.account, e.space, e.chat,
               e.chat_type, e.sender, e.message_id, e.occurred_at,
               to_tsvector(cfg, c.text) AS document
          FROM events e JOIN event_content c ON c.position = e.position
         WHERE e.position > done AND e.position <= target
           AND e.type IN ({types}) AND c.text IS NOT NULL) AS d
     WHERE d.document <> ''::tsvector
    ON CONFLICT (position) DO NOTHING;
    UPDATE search_state SET indexed_upto = target, updated_at = now();
    RETURN target;
END $$;

-- Rebuild the index under another text search configuration (a no-op when unchanged).
CREATE FUNCTION convlog_search_configure(wanted text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
BEGIN
    PERFORM wanted::regconfig;  -- refuses a configuration the server does not know
    PERFORM pg_advisory_xact_lock({search_lock});
    IF (SELECT s.config FROM search_state s) = wanted THEN
        RETURN false;
    END IF;
    DELETE FROM search_documents;
    UPDATE search_state SET config = wanted, indexed_upto = 0, updated_at = now();
    RETURN true;
END $$;

-- Erasure reaches the index in the erasing transaction.
CREATE FUNCTION convlog_search_forget() RETURNS trigger
    LANGUAGE plpgsql SET search_path = {path}, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM erased_rows WHERE erased_by IS NOT NULL) THEN
        PERFORM pg_advisory_xact_lock({search_lock});
        DELETE FROM search_documents s USING erased_rows r
         WHERE s.position = r.position AND r.erased_by IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER event_content_erased_leaves_search AFTER UPDATE ON event_content
    REFERENCING NEW TABLE AS erased_rows
    FOR EACH STATEMENT EXECUTE FUNCTION convlog_search_forget();

-- The index's planner statistics sample lexemes: re-analysed after each erasure (not
-- after a redaction, which happens inside an append).
CREATE FUNCTION convlog_search_analyze() RETURNS trigger
    LANGUAGE plpgsql SET search_path = {path}, pg_temp AS $$
BEGIN
    ANALYZE search_documents;
    RETURN NULL;
END $$;
CREATE TRIGGER erasures_analyze_search AFTER INSERT ON erasures
    FOR EACH ROW WHEN (NEW.kind <> 'redaction') EXECUTE FUNCTION convlog_search_analyze();

-- The events a retention rule set erases now: content not yet erased, counted in
-- `encoding` (token_counts), whose first matching rule has an age older than
-- `as_of` allows. Rules: [{{"match": {{chat_type, platform, space, agent}},
-- "max_age_days": n | null}}]; no matching rule, or a null age, keeps the event.
CREATE FUNCTION convlog_retention_targets(rules jsonb, as_of timestamptz, encoding text)
    RETURNS TABLE (target bigint, rule integer)
    LANGUAGE sql STABLE SET search_path = {path}, pg_temp AS $$
    WITH r AS (
        SELECT (x.idx - 1)::integer AS idx, x.rule->'match' AS m,
               (x.rule->>'max_age_days')::integer AS days
          FROM jsonb_array_elements(rules) WITH ORDINALITY AS x(rule, idx))
    SELECT e.position, f.idx
      FROM events e
      JOIN event_content c ON c.position = e.position AND c.erased_by IS NULL
       AND (c.text IS NOT NULL OR c.sender_name IS NOT NULL OR c.meta IS NOT NULL)
      CROSS JOIN LATERAL (
            SELECT r.idx, r.days FROM r
             WHERE (r.m->>'chat_type' IS NULL OR r.m->>'chat_type' = e.chat_type)
               AND (r.m->>'platform' IS NULL OR r.m->>'platform' = e.platform)
               AND (r.m->>'space' IS NULL OR r.m->>'space' = e.space)
               AND (r.m->>'agent' IS NULL OR r.m->>'agent' = e.agent)
             ORDER BY r.idx LIMIT 1) f
     WHERE f.days IS NOT NULL
       AND e.occurred_at < as_of - make_interval(days => f.days)
       -- usage totals survive: only events whose tokens are already counted
       AND EXISTS (SELECT 1 FROM token_counts t
                    WHERE t.encoding = convlog_retention_targets.encoding
                      AND t.position = e.position)
$$;

-- One retention run: erase what the rules select, as convlog_erase would, audited once.
CREATE FUNCTION convlog_retain(rules jsonb, as_of timestamptz, encoding text,
                               selector text, reason text)
    RETURNS TABLE (erasure bigint, matched integer, contents integer, summaries integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
#variable_conflict use_column
DECLARE
    members bigint[];
    result record;
    id bigint;
BEGIN
    IF reason IS NULL OR length(btrim(reason)) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'a retention run needs a reason of 1 to 1000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(rules) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'retention rules must be an array'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock({lock});  -- serialized with appends, as erase is
    SELECT coalesce(array_agg(t.target), '{{}}') INTO members
      FROM convlog_retention_targets(rules, as_of, encoding) t;
    id := nextval(pg_get_serial_sequence('erasures', 'id'));
    result := convlog_erase_positions(members, id);
    INSERT INTO erasures (id, erased_by, kind, selector, targets, reason, events_matched,
                          contents_erased, summaries_erased, head)
    VALUES (id, session_user, 'retention', selector,
            jsonb_build_object('rules', rules, 'as_of', as_of, 'encoding', encoding),
            btrim(reason), cardinality(members), result.contents, result.summaries,
            (SELECT coalesce(max(e.position), 0) FROM events e));
    ANALYZE event_content;
    PERFORM pg_notify('{channel}', id::text);
    RETURN QUERY SELECT id, cardinality(members), result.contents, result.summaries;
END $$;

-- What analysts may search: indexed messages with their text (erased ones are gone).
CREATE VIEW message_search AS
SELECT s.position, s.type, s.agent, s.platform, s.account, s.space, s.chat, s.chat_type,
       s.sender, c.sender_name, s.message_id, s.occurred_at, c.text, s.document
  FROM search_documents s JOIN event_content c ON c.position = s.position
 WHERE c.erased_by IS NULL;
"""

SETTLE = """
ALTER FUNCTION convlog_settle_privileges() RENAME TO convlog_settle_pre_search_privileges;
CREATE FUNCTION convlog_settle_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convlog_settle_pre_search_privileges();
    REVOKE ALL ON search_documents, search_state
        FROM convlog_writer, convlog_worker, convlog_reader, convlog_operator;
    GRANT SELECT ON search_documents, search_state TO convlog_worker;
    GRANT SELECT ON message_search, search_state TO convlog_reader;
    GRANT SELECT ON message_search TO convlog_worker;
    REVOKE ALL ON FUNCTION convlog_search_index(bigint, integer),
        convlog_search_configure(text), convlog_search_forget(), convlog_search_analyze(),
        convlog_retention_targets(jsonb, timestamptz, text),
        convlog_retain(jsonb, timestamptz, text, text, text),
        convlog_settle_pre_search_privileges(), convlog_settle_privileges() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION convlog_search_index(bigint, integer)
        TO convlog_worker, convlog_reader;
    GRANT EXECUTE ON FUNCTION convlog_retention_targets(jsonb, timestamptz, text)
        TO convlog_worker;
    GRANT EXECUTE ON FUNCTION convlog_search_configure(text),
        convlog_retain(jsonb, timestamptz, text, text, text) TO convlog_operator;
END $$;
"""


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS.format(path=_schema_path(), search_lock=SEARCH_LOCK_KEY,
                                lock=APPEND_LOCK_KEY, channel=ERASURES_CHANNEL,
                                types=INDEXED_TYPES))
    op.execute(SETTLE)
    op.execute("SELECT convlog_settle_privileges()")


def downgrade() -> None:
    given = context.get_x_argument(as_dictionary=True).get("allow-data-loss", "")
    allowed = given.lower() in ("yes", "true", "1") or bool(
        context.config.attributes.get("allow_data_loss"))
    # The index is derived and rebuilds itself; the audit of retention runs is kept for
    # good, and the schema before 0009 has no kind for it.
    runs = op.get_bind().execute(text(
        "SELECT count(*) FROM erasures WHERE kind = 'retention'")).scalar_one()
    if runs and not allowed:
        raise DataLossRefused(
            f"downgrading below revision 0009 is refused: the erasure audit holds {runs:,} "
            "retention runs, a kind the older schema does not know; nothing was changed. "
            "Stay on 0009 or later, or, to go back anyway with those rows kept (the older "
            "constraint then checks new rows only), repeat with "
            "`alembic -x allow-data-loss=yes downgrade ...`")
    op.execute("DROP FUNCTION convlog_settle_privileges()")
    op.execute("ALTER FUNCTION convlog_settle_pre_search_privileges() "
               "RENAME TO convlog_settle_privileges")
    op.execute("""
        DROP VIEW message_search;
        DROP TRIGGER erasures_analyze_search ON erasures;
        DROP TRIGGER event_content_erased_leaves_search ON event_content;
        DROP FUNCTION convlog_retain(jsonb, timestamptz, text, text, text),
            convlog_retention_targets(jsonb, timestamptz, text), convlog_search_analyze(),
            convlog_search_forget(), convlog_search_configure(text),
            convlog_search_index(bigint, integer);
        DROP TABLE search_state, search_documents;
        ALTER TABLE erasures DROP CONSTRAINT erasures_kind_check;
        ALTER TABLE erasures ADD CONSTRAINT erasures_kind_check
            CHECK (kind IN ('sender', 'message', 'chat', 'redaction')) NOT VALID;
    """)
