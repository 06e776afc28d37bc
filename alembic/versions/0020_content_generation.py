"""Content has a generation: every statement that changes `event_content` moves it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

Content only ever changes by erasure (a row trigger refuses anything else), and a
server keeps the members it rendered for the next contexts of their sessions. It used
to read every member's content again on every context to see whether it still read the
same; now it reads `content_generation.n` with the session, and while that stands
still nothing it kept can have been erased, so only new members' content is read. The
counter moves in the erasing transaction (a statement trigger), so a reader that sees
the erasure sees the counter moved; concurrent erasures take turns on its row, so it
moves in commit order.

- `convlog_settle_privileges()` is wrapped: every login role may read the counter,
  none may write it (the trigger's function runs as its owner).
"""

from sqlalchemy import text

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE content_generation (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint NOT NULL
);
INSERT INTO content_generation (one, n) VALUES (true, 0);
"""

FUNCTION = """
CREATE FUNCTION convlog_content_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
BEGIN
    UPDATE content_generation SET n = n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER event_content_generation AFTER UPDATE ON event_content
    FOR EACH STATEMENT EXECUTE FUNCTION convlog_content_changed();
"""

SETTLE = """
ALTER FUNCTION convlog_settle_privileges() RENAME TO convlog_settle_pre_generation_privileges;
CREATE FUNCTION convlog_settle_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convlog_settle_pre_generation_privileges();
    REVOKE ALL ON content_generation
        FROM convlog_writer, convlog_worker, convlog_reader, convlog_operator;
    GRANT SELECT ON content_generation
        TO convlog_writer, convlog_worker, convlog_reader, convlog_operator;
    REVOKE ALL ON FUNCTION convlog_content_changed(),
        convlog_settle_pre_generation_privileges(), convlog_settle_privileges() FROM PUBLIC;
END $$;
"""


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute(TABLE)
    op.execute(FUNCTION.format(path=_schema_path()))
    op.execute(SETTLE)
    op.execute("SELECT convlog_settle_privileges()")


def downgrade() -> None:
    op.execute("DROP FUNCTION convlog_settle_privileges()")
    op.execute("ALTER FUNCTION convlog_settle_pre_generation_privileges() "
               "RENAME TO convlog_settle_privileges")
    op.execute("DROP TRIGGER event_content_generation ON event_content")
    op.execute("DROP FUNCTION convlog_content_changed()")
    op.execute("DROP TABLE content_generation")
