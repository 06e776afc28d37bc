"""The append-only events table, immutable and serialized by the database itself.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from alembic import context, op
from eventlog.schema import refuse_data_loss

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LOCK_KEY = 0x636F6E766C6F67


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("agent", sa.Text, nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("space", sa.Text),
        sa.Column("chat", sa.Text),
        sa.Column("chat_type", sa.Text),
        sa.Column("topic", sa.Text),
        sa.Column("sender", sa.Text),
        sa.Column("message_id", sa.Text),
        sa.Column("reply_to", sa.Text),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )
    op.execute(
        """
        CREATE FUNCTION convlog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'convlog events are immutable: % is refused', TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'append a correcting event (message.edited, message.deleted, '
                             'content.redacted) instead';
        END $$;
        CREATE TRIGGER events_immutable_rows BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION convlog_refuse_change();
        CREATE TRIGGER events_immutable_truncate BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION convlog_refuse_change();
        """
    )
    # Every insert, from convlog or any other client, takes the append lock before
    # positions are drawn, so positions are handed out in commit order.
    op.execute(
        f"""
        CREATE FUNCTION convlog_serialize_append() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({LOCK_KEY});
            RETURN NULL;
        END $$;
        CREATE TRIGGER events_serialize_append BEFORE INSERT ON events
            FOR EACH STATEMENT EXECUTE FUNCTION convlog_serialize_append();
        """
    )


def downgrade() -> None:
    # The log is the only copy of what gateways sent: dropping it is never implied.
    allowed = context.get_x_argument(as_dictionary=True).get("allow-data-loss", "")
    refuse_data_loss(op.get_bind(), ["events"], revision="0001",
                     allowed=allowed.lower() in ("yes", "true", "1")
                     or bool(context.config.attributes.get("allow_data_loss")))
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION convlog_refuse_change()")
    op.execute("DROP FUNCTION convlog_serialize_append()")
