"""The HTTP API's tables: bearer tokens (hashes only) and per-session leases; the API role.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

- `api_tokens`: one row per token, its SHA-256 hash (never the token), its agents
  ('*' for every agent) and verbs; revoking keeps the row, so names and history stay.
- `session_leases`: the current lease of each session; `lease_fencing_tokens` hands
  out fencing tokens, so they only grow, across sessions and re-grants.
- Role `convlog_api` (NOLOGIN, cluster-wide): what `convlog serve` connects as. It is a
  member of convlog_writer (it appends) and convlog_worker (it catches projections up
  for read-your-writes), and the only role besides the owner that reads tokens and
  takes leases. convlog_operator manages tokens (`convlog token ...`).
- `convlog_settle_privileges()` (from 0005, re-run by env.py after every upgrade) is
  wrapped, so that its blanket worker grant never reaches these tables.
"""

from alembic import context, op
from eventlog.schema import refuse_data_loss

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'convlog_api') THEN
        BEGIN
            CREATE ROLE convlog_api NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration created it first
        END;
    END IF;
    -- Tests migrate many databases at once; a concurrent grant of the same membership
    -- may fail, which is fine as long as the membership is there.
    BEGIN
        GRANT convlog_writer, convlog_worker TO convlog_api;
    EXCEPTION WHEN OTHERS THEN
        IF (SELECT count(*) FROM pg_auth_members
             WHERE member = 'convlog_api'::regrole
               AND roleid IN ('convlog_writer'::regrole, 'convlog_worker'::regrole)) < 2 THEN
            RAISE;
        END IF;
    END;
END $$;
"""

TABLES = """
CREATE TABLE api_tokens (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    agents      text[] NOT NULL CHECK (cardinality(agents) > 0),
    verbs       text[] NOT NULL CHECK (cardinality(verbs) > 0
                                       AND verbs <@ ARRAY['ingest', 'read', 'admin']),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX uq_api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE SEQUENCE lease_fencing_tokens AS bigint;
CREATE TABLE session_leases (
    session_id    uuid PRIMARY KEY,
    agent         text NOT NULL,
    lease_id      uuid NOT NULL UNIQUE,
    holder        text NOT NULL,
    fencing_token bigint NOT NULL,
    acquired_at   timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
"""

SETTLE = """
ALTER FUNCTION convlog_settle_privileges() RENAME TO convlog_settle_log_privileges;
CREATE FUNCTION convlog_settle_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convlog_settle_log_privileges();
    REVOKE ALL ON api_tokens, session_leases
        FROM convlog_writer, convlog_worker, convlog_reader, convlog_operator;
    REVOKE ALL ON SEQUENCE lease_fencing_tokens
        FROM convlog_writer, convlog_worker, convlog_reader, convlog_operator;
    GRANT SELECT ON api_tokens TO convlog_api;
    GRANT SELECT, INSERT, UPDATE ON session_leases TO convlog_api;
    GRANT USAGE ON SEQUENCE lease_fencing_tokens TO convlog_api;
    GRANT SELECT, INSERT, UPDATE ON api_tokens TO convlog_operator;
    REVOKE ALL ON FUNCTION convlog_settle_log_privileges(), convlog_settle_privileges()
        FROM PUBLIC;
END $$;
"""


def upgrade() -> None:
    op.execute(ROLE)
    op.execute(TABLES)
    op.execute(SETTLE)
    op.execute("SELECT convlog_settle_privileges()")


def downgrade() -> None:
    # Leases are working state; tokens are credentials gateways hold: refuse to drop them.
    given = context.get_x_argument(as_dictionary=True).get("allow-data-loss", "")
    allowed = given.lower() in ("yes", "true", "1") or bool(
        context.config.attributes.get("allow_data_loss"))
    refuse_data_loss(op.get_bind(), ["api_tokens"], allowed=allowed, revision="0006")
    op.execute("DROP FUNCTION convlog_settle_privileges()")
    op.execute("ALTER FUNCTION convlog_settle_log_privileges() "
               "RENAME TO convlog_settle_privileges")
    op.execute("DROP TABLE session_leases, api_tokens")
    op.execute("DROP SEQUENCE lease_fencing_tokens")
