"""API tokens may expire: `convlog token create --expires-in 30d`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

- `api_tokens.expires_at` (NULL: never). A request with an expired token is refused
  as one with a revoked token is; the row stays, so names and history do too.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP COLUMN expires_at")
