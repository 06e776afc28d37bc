"""Token counts off the append path: counted once per (event, encoding) by workers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

- `token_counts`: one row per event and encoding (0 for an event without text),
  derived from the log and shared by every projection of that encoding; a rebuild
  reads them and never recounts. Rows are written with ON CONFLICT DO NOTHING, so
  two counters racing over the same positions write each count once.
- `token_watermarks`: per encoding, the position up to which every event of the
  log is counted (gap-safe: never beyond the log's horizon).
- `events.tokens` is no longer written by the append (it is NULL from here on);
  counts appended before this revision stay where they are, unused. A downgrade
  gives the events appended since their count back (see downgrade()).
- Grants: workers (and the API, a worker too) count and read counts, as they do
  every derived table; gateways (convlog_writer) may read them, since reading the
  log shows each event's count, but never write them. `convlog_settle_privileges()`
  is wrapped so that re-running it after later upgrades keeps that grant.
"""

from sqlalchemy import text

from alembic import op
from eventlog.schema import log_horizon
from eventlog.settings import Settings
from eventlog.tokens import ensure_counted

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SETTLE = """
ALTER FUNCTION convlog_settle_privileges() RENAME TO convlog_settle_privileges_before_0008;
CREATE FUNCTION convlog_settle_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convlog_settle_privileges_before_0008();
    GRANT SELECT ON token_counts, token_watermarks TO convlog_writer;
    REVOKE ALL ON FUNCTION convlog_settle_privileges_before_0008(),
        convlog_settle_privileges() FROM PUBLIC;
END $$;
"""


def upgrade() -> None:
    op.execute("""
        CREATE TABLE token_counts (
            encoding  text NOT NULL,
            position  bigint NOT NULL,
            tokens    integer NOT NULL CHECK (tokens >= 0),
            PRIMARY KEY (encoding, position)
        )
    """)
    op.execute("""
        CREATE TABLE token_watermarks (
            encoding      text PRIMARY KEY,
            counted_upto  bigint NOT NULL DEFAULT 0,
            updated_at    timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute("ALTER TABLE events ALTER COLUMN tokens DROP NOT NULL")
    op.execute(SETTLE)
    op.execute("SELECT convlog_settle_privileges()")


def downgrade() -> None:
    # The schema before 0008 wants a count in every events row, and the events appended
    # since have none. They get their count in the deployment's encoding (counted here
    # first where no worker had), under the same sanctioned, transactional suspension of
    # the immutability trigger that 0005 uses; the column is derived, the events' content,
    # envelope and fingerprints are untouched, and a failure restores everything.
    bind = op.get_bind()
    if bind.execute(text("SELECT EXISTS (SELECT 1 FROM events WHERE tokens IS NULL)")
                    ).scalar_one():
        encoding = Settings().encoding
        ensure_counted(bind, encoding, log_horizon(bind))
        bind.execute(text("ALTER TABLE events DISABLE TRIGGER events_immutable_rows"))
        bind.execute(text(
            "UPDATE events e SET tokens = t.tokens FROM token_counts t "
            "WHERE t.encoding = :e AND t.position = e.position AND e.tokens IS NULL"),
            {"e": encoding})
        bind.execute(text("ALTER TABLE events ENABLE TRIGGER events_immutable_rows"))
    op.execute("DROP FUNCTION convlog_settle_privileges()")
    op.execute("ALTER FUNCTION convlog_settle_privileges_before_0008() "
               "RENAME TO convlog_settle_privileges")
    op.execute("DROP TABLE token_watermarks")
    op.execute("DROP TABLE token_counts")
    op.execute("ALTER TABLE events ALTER COLUMN tokens SET NOT NULL")
