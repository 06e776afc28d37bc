"""An erasure of a sender may stand for what they write later: `erase --and-future`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

- `erasure_watch`: (platform, sender) -> the erasure that stands for their later
  content (platform '*' for every platform). Append-only for the application: only
  the owner's functions write it.
- `convlog_erase_watch(erasure, targets)` (convlog_operator): records the watch for
  each sender of an erasure just made, in the same transaction.
- `convlog_erase_arrivals(positions)` (convlog_writer): an append calls it for the
  positions it wrote when some watch exists; their content is erased at once, marked
  with the standing erasure's id, so it is never readable, indexed or counted as kept.
- `convlog_settle_privileges()` is wrapped: no role but the owner writes the watch.
"""

from sqlalchemy import text

from alembic import context, op
from eventlog.schema import DataLossRefused

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE erasure_watch (
    platform text NOT NULL,
    sender   text NOT NULL,
    erasure  bigint NOT NULL REFERENCES erasures (id),
    PRIMARY KEY (platform, sender)
);
"""

FUNCTIONS = """
CREATE FUNCTION convlog_erase_watch(erasure bigint, targets jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
DECLARE
    added integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM erasures e WHERE e.id = erasure AND e.kind = 'sender') THEN
        RAISE EXCEPTION 'erasure % is not an erasure of a sender', erasure
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO erasure_watch (platform, sender, erasure)
    SELECT coalesce(t->>'platform', '*'), t->>'sender', erasure
      FROM jsonb_array_elements(targets) AS t
     WHERE t->>'sender' IS NOT NULL
    ON CONFLICT (platform, sender) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END $$;

CREATE FUNCTION convlog_erase_arrivals(positions bigint[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
DECLARE
    w record;
    erased integer := 0;
    result record;
BEGIN
    -- What a watched sender wrote, and every event about a message they wrote (an
    -- edit sent without a sender, a deletion), as an erasure of a sender finds them.
    FOR w IN
        SELECT wt.erasure, array_agg(DISTINCT e.position) AS members
          FROM events e
          CROSS JOIN LATERAL (
                SELECT x.erasure FROM erasure_watch x
                 WHERE x.sender = e.sender AND (x.platform = '*' OR x.platform = e.platform)
                UNION
                SELECT x.erasure FROM events o
                  JOIN erasure_watch x ON x.sender = o.sender
                   AND (x.platform = '*' OR x.platform = o.platform)
                 WHERE e.message_id IS NOT NULL AND o.platform = e.platform
                   AND o.chat = e.chat AND o.message_id = e.message_id) AS wt
         WHERE e.position = ANY(positions)
         GROUP BY wt.erasure
    LOOP
        result := convlog_erase_positions(w.members, w.erasure);
        erased := erased + result.contents;
    END LOOP;
    RETURN erased;
END $$;
"""

SETTLE = """
ALTER FUNCTION convlog_settle_privileges() RENAME TO convlog_settle_pre_watch_privileges;
CREATE FUNCTION convlog_settle_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convlog_settle_pre_watch_privileges();
    REVOKE ALL ON erasure_watch
        FROM convlog_writer, convlog_worker, convlog_reader, convlog_operator;
    GRANT SELECT ON erasure_watch TO convlog_writer, convlog_operator;
    REVOKE ALL ON FUNCTION convlog_erase_watch(bigint, jsonb),
        convlog_erase_arrivals(bigint[]), convlog_settle_pre_watch_privileges(),
        convlog_settle_privileges() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION convlog_erase_watch(bigint, jsonb) TO convlog_operator;
    GRANT EXECUTE ON FUNCTION convlog_erase_arrivals(bigint[]) TO convlog_writer;
END $$;
"""


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS.format(path=_schema_path()))
    op.execute(SETTLE)
    op.execute("SELECT convlog_settle_privileges()")


def downgrade() -> None:
    given = context.get_x_argument(as_dictionary=True).get("allow-data-loss", "")
    allowed = given.lower() in ("yes", "true", "1") or bool(
        context.config.attributes.get("allow_data_loss"))
    watched = op.get_bind().execute(text("SELECT count(*) FROM erasure_watch")).scalar_one()
    if watched and not allowed:
        raise DataLossRefused(
            f"downgrading below revision 0016 is refused: {watched:,} erasures stand for "
            "their senders' later content, and the older schema would let it in; nothing "
            "was changed. Stay on 0016 or later, or repeat with "
            "`alembic -x allow-data-loss=yes downgrade ...`")
    op.execute("DROP FUNCTION convlog_settle_privileges()")
    op.execute("ALTER FUNCTION convlog_settle_pre_watch_privileges() "
               "RENAME TO convlog_settle_privileges")
    op.execute("DROP FUNCTION convlog_erase_arrivals(bigint[]), "
               "convlog_erase_watch(bigint, jsonb)")
    op.execute("DROP TABLE erasure_watch")
