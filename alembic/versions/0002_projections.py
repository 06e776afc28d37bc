"""Projections: named policies with a checkpoint, and their session tables.

Session tables are partitioned by projection, so a rebuild writes into its own
partition beside the live one and `drop` is a DROP of that partition.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE projections (
            id              integer GENERATED ALWAYS AS IDENTITY,
            name            text NOT NULL,
            policy          jsonb NOT NULL,
            grouping        text NOT NULL,
            checkpoint      bigint NOT NULL DEFAULT 0,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            caught_up_at    timestamptz,
            CONSTRAINT pk_projections PRIMARY KEY (id),
            CONSTRAINT uq_projections_name UNIQUE (name)
        );

        -- Exactly one row: which projection gateways get, and the one before it.
        CREATE TABLE active_projection (
            singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            projection_id   integer NOT NULL REFERENCES projections (id),
            previous_id     integer REFERENCES projections (id) ON DELETE SET NULL,
            activated_at    timestamptz NOT NULL DEFAULT now()
        );

        -- One row per session (a key in one epoch).
        CREATE TABLE sessions (
            projection_id   integer NOT NULL,
            session_id      uuid NOT NULL,
            key             text NOT NULL,
            epoch           integer NOT NULL,
            started_by      text NOT NULL,
            agent           text NOT NULL,
            platform        text NOT NULL,
            legacy_keys     jsonb NOT NULL DEFAULT '{}',
            first_at        timestamptz NOT NULL,
            last_at         timestamptz NOT NULL,
            last_user_at    timestamptz,
            first_position  bigint NOT NULL,
            last_position   bigint NOT NULL,
            message_count   integer NOT NULL DEFAULT 0,
            token_total     bigint NOT NULL DEFAULT 0,
            running_total   bigint NOT NULL DEFAULT 0,
            summary_position bigint,
            summarized_count integer NOT NULL DEFAULT 0,
            summarized_tokens bigint NOT NULL DEFAULT 0,
            participants    text[] NOT NULL DEFAULT '{}',
            chats           text[] NOT NULL DEFAULT '{}',
            parent_session_id uuid,
            parent_position bigint,
            needs_summary   boolean NOT NULL DEFAULT false,
            summary_reason  text,
            PRIMARY KEY (projection_id, session_id)
        ) PARTITION BY LIST (projection_id);
        CREATE INDEX ix_sessions_key ON sessions (projection_id, key, epoch);

        -- Which session a key currently resolves to (its epoch moves on resets).
        CREATE TABLE session_heads (
            projection_id   integer NOT NULL,
            key             text NOT NULL,
            session_id      uuid NOT NULL,
            epoch           integer NOT NULL,
            started_by      text NOT NULL,
            last_user_at    timestamptz,
            PRIMARY KEY (projection_id, key)
        ) PARTITION BY LIST (projection_id);

        -- Every event a session holds. running_tokens is the session's token sum up
        -- to and including this member as appended, so the context call finds where
        -- a budget starts with one index probe instead of reading the history.
        CREATE TABLE session_members (
            projection_id   integer NOT NULL,
            session_id      uuid NOT NULL,
            position        bigint NOT NULL,
            kind            text NOT NULL,
            message_id      text,
            sender          text,
            seq             integer NOT NULL,
            tokens          integer NOT NULL,
            running_tokens  bigint NOT NULL,
            PRIMARY KEY (projection_id, session_id, position)
        ) PARTITION BY LIST (projection_id);
        CREATE INDEX ix_session_members_running
            ON session_members (projection_id, session_id, running_tokens);

        -- Where each message went, for replies, edits, deletes and redactions.
        CREATE TABLE message_index (
            projection_id   integer NOT NULL,
            agent           text NOT NULL,
            platform        text NOT NULL,
            account         text NOT NULL,
            chat            text NOT NULL,
            message_id      text NOT NULL,
            session_id      uuid NOT NULL,
            position        bigint NOT NULL,
            PRIMARY KEY (projection_id, agent, platform, account, chat, message_id)
        ) PARTITION BY LIST (projection_id);

        -- Later changes to a member's content: edits, deletions, redactions.
        CREATE TABLE member_changes (
            projection_id   integer NOT NULL,
            session_id      uuid NOT NULL,
            target_position bigint NOT NULL,
            position        bigint NOT NULL,
            change          text NOT NULL CHECK (change IN ('edited', 'deleted', 'redacted')),
            tokens          integer NOT NULL,
            PRIMARY KEY (projection_id, session_id, target_position, position)
        ) PARTITION BY LIST (projection_id);

        -- Summaries recorded for a session; the newest one that applies starts its context.
        CREATE TABLE session_summaries (
            projection_id   integer NOT NULL,
            session_id      uuid NOT NULL,
            position        bigint NOT NULL,
            covers_position bigint NOT NULL,
            tokens          integer NOT NULL,
            PRIMARY KEY (projection_id, session_id, position)
        ) PARTITION BY LIST (projection_id);

        -- Threads seen so far: where each began, for inherit_parent.
        CREATE TABLE thread_origins (
            projection_id   integer NOT NULL,
            thread_key      text NOT NULL,
            parent_session_id uuid NOT NULL,
            parent_position bigint NOT NULL,
            PRIMARY KEY (projection_id, thread_key)
        ) PARTITION BY LIST (projection_id);

        -- The analyst's surface: one row per session, one row per session member.
        CREATE VIEW session_overview AS
        SELECT p.name AS projection,
               (a.projection_id IS NOT NULL) AS active,
               s.session_id, s.key, s.epoch, s.started_by, s.agent, s.platform,
               s.first_at, s.last_at, s.message_count, s.token_total,
               s.participants, cardinality(s.participants) AS participant_count, s.chats,
               s.parent_session_id, s.needs_summary, s.summary_reason, s.legacy_keys
          FROM sessions s
          JOIN projections p ON p.id = s.projection_id
          LEFT JOIN active_projection a ON a.projection_id = s.projection_id;

        CREATE VIEW session_messages AS
        SELECT p.name AS projection, m.session_id, m.seq, m.position, e.type, m.kind,
               e.platform, e.chat, e.topic, m.sender, e.payload->>'sender_name' AS sender_name,
               e.occurred_at, m.tokens, m.running_tokens,
               coalesce(c.change, 'original') AS state,
               CASE WHEN c.change IN ('deleted', 'redacted') THEN NULL
                    WHEN c.change = 'edited' THEN ce.payload->>'text'
                    ELSE e.payload->>'text' END AS text
          FROM session_members m
          JOIN projections p ON p.id = m.projection_id
          JOIN events e ON e.position = m.position
          LEFT JOIN LATERAL (
                SELECT mc.change, mc.position FROM member_changes mc
                 WHERE mc.projection_id = m.projection_id AND mc.session_id = m.session_id
                   AND mc.target_position = m.position
                 ORDER BY mc.position DESC LIMIT 1) c ON true
          LEFT JOIN events ce ON ce.position = c.position;
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW session_messages, session_overview")
    op.execute(
        "DROP TABLE thread_origins, session_summaries, member_changes, message_index, "
        "session_members, session_heads, sessions, active_projection, projections"
    )
