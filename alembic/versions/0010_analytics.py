"""Analytics: one view with everything an export or a transcript needs, for analysts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

- `session_transcript`: one row per session member of every projection: where it
  is (projection, active, session_id, key, epoch, agent, seq, position), what and
  where it was (type, kind, platform, account, space, chat, chat_type, topic,
  sender, message_id, reply_to, occurred_at, recorded_at), its tokens as counted
  when it joined the session, its `state` (original, edited, deleted, redacted,
  erased) and its content as a context shows it: `text`, `sender_name`, and for
  tool calls `tool_name` and `tool_arguments`. Content comes from `event_content`
  only, so erased content is NULL here as everywhere (`convlog export` reads this
  view, so no export can hold it either).
- `convlog_settle_privileges()` is wrapped: readers and workers may select the view.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

VIEW = """
CREATE VIEW session_transcript AS
SELECT p.name AS projection, (a.projection_id IS NOT NULL) AS active,
       m.session_id, s.key, s.epoch, s.agent, m.seq, m.position, e.type, m.kind,
       e.platform, e.account, e.space, e.chat, e.chat_type, e.topic, m.sender,
       CASE WHEN ec.erased_by IS NULL THEN ec.sender_name END AS sender_name,
       e.message_id, e.reply_to, e.occurred_at, e.recorded_at, m.tokens,
       CASE WHEN c.change = 'redacted' THEN 'redacted'
            WHEN ec.erased_by IS NOT NULL
              OR (c.change = 'edited' AND cc.erased_by IS NOT NULL) THEN 'erased'
            ELSE coalesce(c.change, 'original') END AS state,
       CASE WHEN c.change IN ('deleted', 'redacted') OR ec.erased_by IS NOT NULL THEN NULL
            WHEN c.change = 'edited' THEN cc.text
            ELSE ec.text END AS text,
       CASE WHEN m.kind = 'tool' AND ec.erased_by IS NULL
                 AND coalesce(c.change, '') NOT IN ('deleted', 'redacted')
            THEN ec.meta->>'tool' END AS tool_name,
       CASE WHEN m.kind = 'tool' AND ec.erased_by IS NULL
                 AND coalesce(c.change, '') NOT IN ('deleted', 'redacted')
            THEN coalesce(ec.meta->'arguments', ec.meta->'args') END AS tool_arguments
  FROM session_members m
  JOIN projections p ON p.id = m.projection_id
  JOIN sessions s ON s.projection_id = m.projection_id AND s.session_id = m.session_id
  LEFT JOIN active_projection a ON a.projection_id = m.projection_id
  JOIN events e ON e.position = m.position
  LEFT JOIN event_content ec ON ec.position = m.position
  LEFT JOIN LATERAL (
        SELECT mc.change, mc.position FROM member_changes mc
         WHERE mc.projection_id = m.projection_id AND mc.session_id = m.session_id
           AND mc.target_position = m.position
         ORDER BY mc.position DESC LIMIT 1) c ON true
  LEFT JOIN event_content cc ON cc.position = c.position;
"""

SETTLE = """
ALTER FUNCTION convlog_settle_privileges() RENAME TO convlog_settle_pre_analytics_privileges;
CREATE FUNCTION convlog_settle_privileges() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM convlog_settle_pre_analytics_privileges();
    GRANT SELECT ON session_transcript TO convlog_reader, convlog_worker;
    REVOKE ALL ON FUNCTION convlog_settle_pre_analytics_privileges(),
        convlog_settle_privileges() FROM PUBLIC;
END $$;
"""


def upgrade() -> None:
    op.execute(VIEW)
    op.execute(SETTLE)
    op.execute("SELECT convlog_settle_privileges()")


def downgrade() -> None:
    op.execute("DROP FUNCTION convlog_settle_privileges()")
    op.execute("ALTER FUNCTION convlog_settle_pre_analytics_privileges() "
               "RENAME TO convlog_settle_privileges")
    op.execute("DROP VIEW session_transcript")
