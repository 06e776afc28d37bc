"""Events a projection could not fold: kept with the error, so the projection goes on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE quarantined_events (
            projection_id   integer NOT NULL REFERENCES projections (id) ON DELETE CASCADE,
            position        bigint NOT NULL,
            code            text NOT NULL,
            error           text NOT NULL,
            quarantined_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection_id, position)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE quarantined_events")
