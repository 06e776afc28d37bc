"""Legacy aliases: the address each imported gateway key named (opaque keys' only way back).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

- `legacy_aliases`: one row per (gateway, legacy key) an importer met: the address it
  names (agent, platform, account, space, chat, chat_type, topic, sender as a JSON
  object), the PicoClaw scope when there is one, and where it was read. A PicoClaw
  `sk_v1_` key is a hash that cannot be reversed; `convlog resolve --key` finds it here.
  Rows are written idempotently (ON CONFLICT DO NOTHING) by `convlog import`.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE legacy_aliases (
            gateway     text NOT NULL,
            legacy_key  text NOT NULL,
            address     jsonb NOT NULL,
            scope       jsonb,
            source      text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (gateway, legacy_key)
        )
    """)
    op.execute("CREATE INDEX legacy_aliases_key ON legacy_aliases (legacy_key)")


def downgrade() -> None:
    op.execute("DROP TABLE legacy_aliases")
