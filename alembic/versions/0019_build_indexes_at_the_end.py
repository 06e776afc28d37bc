"""A projection's secondary indexes are its partitions' own, built once when it is built.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

`ix_sessions_key` and `ix_session_members_running` were indexes of the partitioned
tables, so every partition had them from its creation and a build maintained them row
by row. They become indexes of each partition: a new projection's partitions are
created without them, its build writes rows that only the primary keys (which the
fold's own look-ups go through) keep in order, and `convlog_index_partitions(id)` builds
them in one pass each (in parallel where PostgreSQL can) in the transaction that marks
the projection caught up, which is before it can be activated. Existing partitions get
them here. Queries name one projection, so the planner prunes to its partition and
uses the partition's index as it used the parent's.
"""

from sqlalchemy import text

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# (partitioned table, index name suffix, columns): the name is the partition's + suffix.
INDEXES = (
    ("sessions", "key", "projection_id, key, epoch"),
    ("session_members", "running", "projection_id, session_id, running_tokens"),
)

FUNCTION = """
CREATE FUNCTION convlog_index_partitions(projection integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path}, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM projections p WHERE p.id = projection) THEN
        RAISE EXCEPTION 'there is no projection %', projection
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    {statements}
END $$;
"""
# One per index; IF NOT EXISTS makes the call cheap once done (a catalog look-up).
STATEMENT = ("EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I ({columns})', "
             "'{table}_p' || projection || '_{suffix}', '{table}_p' || projection);")


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute("DROP INDEX ix_sessions_key")
    op.execute("DROP INDEX ix_session_members_running")
    statements = "\n    ".join(STATEMENT.format(table=table, suffix=suffix, columns=columns)
                               for table, suffix, columns in INDEXES)
    op.execute(FUNCTION.format(path=_schema_path(), statements=statements))
    op.execute("REVOKE ALL ON FUNCTION convlog_index_partitions(integer) FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION convlog_index_partitions(integer) TO convlog_worker")
    # Every projection that exists keeps the indexes it had.
    op.execute("SELECT convlog_index_partitions(id) FROM projections")


def downgrade() -> None:
    ids = [row[0] for row in op.get_bind().execute(text("SELECT id FROM projections"))]
    for projection in ids:
        for table, suffix, _ in INDEXES:
            op.execute(f'DROP INDEX IF EXISTS "{table}_p{projection}_{suffix}"')
    op.execute("DROP FUNCTION convlog_index_partitions(integer)")
    op.execute("CREATE INDEX ix_sessions_key ON sessions (projection_id, key, epoch)")
    op.execute("CREATE INDEX ix_session_members_running "
               "ON session_members (projection_id, session_id, running_tokens)")
