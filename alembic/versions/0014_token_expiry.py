"""API tokens may expire: `convlog token create --expires-in 30d`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

- `api_tokens.expires_at` (NULL: never). A request with an expired token is refused
  as one with a revoked token is; the row stays, so names and history do too.

The downgrade revokes every live token that has an expiry (when it expired, or now):
the older schema cannot expire them, and none may outlive its expiry.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz")


def downgrade() -> None:
    op.execute("UPDATE api_tokens SET revoked_at = least(expires_at, now()) "
               "WHERE expires_at IS NOT NULL AND revoked_at IS NULL")
    op.execute("ALTER TABLE api_tokens DROP COLUMN expires_at")
