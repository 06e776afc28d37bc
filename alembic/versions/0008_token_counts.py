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
  counts appended before this revision stay where they are, unused.
"""

from alembic import context, op

from eventlog.schema import refuse_data_loss

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    allowed = context.get_x_argument(as_dictionary=True).get("allow-data-loss") == "yes"
    # Counts are derived and can be recounted; events appended without a count cannot
    # go back under a NOT NULL column without inventing one.
    refuse_data_loss(op.get_bind(), ["events WHERE tokens IS NULL"], allowed=allowed,
                     revision="0008")
    op.execute("DROP TABLE token_watermarks")
    op.execute("DROP TABLE token_counts")
    if not allowed:
        op.execute("ALTER TABLE events ALTER COLUMN tokens SET NOT NULL")
