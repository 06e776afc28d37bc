"""A change to an API token is announced: servers cache verified tokens.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

Every insert, update or delete of `api_tokens` (`convlog token revoke`, an expiry
changed by hand, a row deleted in SQL) notifies `convlog_tokens` at commit, and each
server forgets the tokens it had verified. A server that misses the notice (its
listening connection was down) forgets them when it listens again, and a cached
token is checked again after at most ten seconds in any case.
"""

from alembic import op
from eventlog.access import TOKENS_CHANNEL

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION convlog_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{TOKENS_CHANNEL}', '');
            RETURN NULL;
        END $$;
        CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
            ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION convlog_tokens_changed();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER api_tokens_changed ON api_tokens; "
               "DROP FUNCTION convlog_tokens_changed();")
