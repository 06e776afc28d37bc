"""Erased content indexed: a re-delivery of an erased message is recognized cheaply.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

- `ix_event_content_erased`: a partial index of the positions whose content was
  erased. An append looks there first, so a log where nothing was ever erased pays
  one index probe per batch to learn it, and otherwise only the batch's own
  addresses are looked up (see `eventlog.appending._ERASED_TWINS`).
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_event_content_erased ON event_content (position) "
               "WHERE erased_by IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_event_content_erased")
