"""Checkpoints of a projection's slices while a rebuild runs in parallel.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE projection_slices (
            projection_id   integer NOT NULL REFERENCES projections (id) ON DELETE CASCADE,
            slice           integer NOT NULL,
            slices          integer NOT NULL,
            checkpoint      bigint NOT NULL,
            upto            bigint NOT NULL,
            PRIMARY KEY (projection_id, slice)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE projection_slices")
