"""What an erased text keeps is a reset trigger of the policies' vocabulary, never user text.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

An erased message keeps the first word of its text when projections fold it as a
reset, so a rebuild after an erasure equals the projection built before it. That
word used to be any leading `/word`, so `/SLASHSECRET please remember` kept
`/SLASHSECRET` in `event_content.command`, in every dump. Now it is kept only when
it is a reset trigger: one of `reset.triggers` of any projection's policy, or the
default `/new` and `/reset`, lower-cased and without a `@bot` suffix, as the resolver
compares them. The upgrade clears what erasures kept before that is not such a
trigger, and re-analyses the table so the planner's samples hold none of it.
"""

from sqlalchemy import text

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COMMAND_OF = """
CREATE OR REPLACE FUNCTION convlog_command_of(content text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = {path}, pg_temp AS $$
    WITH word AS (
        SELECT lower(substring(content FROM '^\\s*(\\S{{1,127}})(?:\\s|$)')) AS w),
    vocabulary AS (
        SELECT t FROM unnest(ARRAY['/new', '/reset']) AS t
        UNION
        SELECT lower(x) FROM projections p
         CROSS JOIN LATERAL jsonb_array_elements_text(
               CASE WHEN jsonb_typeof(p.policy->'reset'->'triggers') = 'array'
                    THEN p.policy->'reset'->'triggers' ELSE '[]'::jsonb END) AS x)
    SELECT CASE WHEN w IN (SELECT t FROM vocabulary) THEN w
                WHEN split_part(w, '@', 1) IN (SELECT t FROM vocabulary)
                    THEN split_part(w, '@', 1) END
      FROM word
$$;
"""

OLD_COMMAND_OF = """
CREATE OR REPLACE FUNCTION convlog_command_of(content text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT substring(content FROM '^\\s*(/\\S{1,127})(?:\\s|$)') $$;
"""


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute(COMMAND_OF.format(path=_schema_path()))
    # The one sanctioned change to erased rows: what they kept that is no trigger goes.
    op.execute("""
        ALTER TABLE event_content DISABLE TRIGGER event_content_erase_only;
        UPDATE event_content SET command = convlog_command_of(command)
         WHERE erased_by IS NOT NULL AND command IS NOT NULL
           AND command IS DISTINCT FROM convlog_command_of(command);
        ALTER TABLE event_content ENABLE TRIGGER event_content_erase_only;
        ANALYZE event_content;
    """)


def downgrade() -> None:
    op.execute(OLD_COMMAND_OF)  # what was cleared stays cleared
