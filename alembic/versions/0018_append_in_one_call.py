"""A few new events appended in one call that is its own transaction.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

`convlog_append_new(...)`, one array per column, in the order the events are to be
appended: takes the append lock, and then, in statements that see everything
committed before the lock was had, inserts the events whose ids are new (the others
spend no position; the caller reads them back to tell a duplicate from a conflict),
their content, and the append notice; returns (event_id, position) of each inserted
event. When some content was ever erased or an erasure watches senders, it inserts
nothing and returns one row (NULL, -1): the caller appends through the full path,
which looks for erased twins and erases a watched sender's arrivals.

Called outside a transaction (autocommit), the lock is held only while the server
runs the call, never across a round trip to a client that may be slow to send
COMMIT: the gateway's turns, many at once, stop queueing behind one another's clients.
Runs with the caller's privileges; EXECUTE is granted to convlog_writer (and so to the
roles that include it).
"""

from sqlalchemy import text

from alembic import op
from eventlog.schema import APPEND_LOCK_KEY, EVENTS_CHANNEL

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SIGNATURE = ("text[], bytea[], text[], text[], text[], text[], text[], text[], text[], "
             "text[], text[], text[], text[], timestamptz[], jsonb[], text[], text[], jsonb[]")

FUNCTION = """
CREATE FUNCTION convlog_append_new(
    ids text[], fingerprints bytea[], types text[], agents text[], platforms text[],
    accounts text[], spaces text[], chats text[], chat_types text[], topics text[],
    senders text[], message_ids text[], reply_tos text[], occurred timestamptz[],
    payloads jsonb[], texts text[], sender_names text[], metas jsonb[])
RETURNS TABLE (event_id text, "position" bigint)
LANGUAGE plpgsql SET search_path = {path}, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock({lock});
    IF EXISTS (SELECT FROM event_content c WHERE c.erased_by IS NOT NULL)
       OR EXISTS (SELECT FROM erasure_watch) THEN
        RETURN QUERY SELECT NULL::text, -1::bigint;
        RETURN;
    END IF;
    RETURN QUERY
    WITH v AS (
        SELECT * FROM unnest(ids, fingerprints, types, agents, platforms, accounts, spaces,
                             chats, chat_types, topics, senders, message_ids, reply_tos,
                             occurred, payloads, texts, sender_names, metas)
               WITH ORDINALITY AS v(id, fp, ty, ag, pl, ac, sp, ch, ct, tp, se, mi, rt,
                                    oc, pa, tx, sn, me, n)
    ), e AS (
        INSERT INTO events AS t (event_id, fingerprint, type, agent, platform, account,
                                 space, chat, chat_type, topic, sender, message_id,
                                 reply_to, occurred_at, payload)
        SELECT id, fp, ty, ag, pl, ac, sp, ch, ct, tp, se, mi, rt, oc, pa FROM v
         WHERE NOT EXISTS (SELECT FROM events x WHERE x.event_id = v.id)  -- no position spent
         ORDER BY n
        ON CONFLICT (event_id) DO NOTHING
        RETURNING t.position, t.event_id
    ), c AS (
        INSERT INTO event_content (position, text, sender_name, meta)
        SELECT e.position, v.tx, v.sn, v.me FROM e JOIN v ON v.id = e.event_id
    )
    SELECT e.event_id, e.position FROM e ORDER BY e.position;
    IF FOUND THEN
        PERFORM pg_notify('{channel}', (SELECT max(x.position) FROM events x)::text);
    END IF;
END $$;
"""


def _schema_path() -> str:
    schema = op.get_bind().execute(text("SELECT current_schema()")).scalar_one()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    op.execute(FUNCTION.format(path=_schema_path(), lock=APPEND_LOCK_KEY,
                               channel=EVENTS_CHANNEL))
    # Said, not left to PUBLIC's default: a database that revokes EXECUTE from PUBLIC
    # keeps the writers' fast path (and a role without it appends through the full one).
    op.execute(f"GRANT EXECUTE ON FUNCTION convlog_append_new({SIGNATURE}) TO convlog_writer")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION convlog_append_new({SIGNATURE})")
