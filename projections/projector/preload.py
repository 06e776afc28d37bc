"""The fold's loads: what earlier batches left that a batch's events can touch."""

from __future__ import annotations

from sqlalchemy import Connection

from projections.projector.assign import Indexed, Known, Wanted
from projections.projector.native import columns, native, run
from projections.projector.state import Head, MessageRef

_HEADS = native(
    "SELECT key, session_id, epoch, started_by, last_user_at FROM session_heads "
    "WHERE projection_id = :p AND key = ANY(:keys)")
# The indexed messages a batch's events name: members' own ids (a message id seen
# before keeps its first place), the targets of replies and of changes, and thread
# parents (which live in payloads, so the caller lists them). Read from the events
# of the batch's range on the server, so no reference travels from Python.
INDEX = native("""
WITH named AS (
    SELECT e.agent, e.platform, e.account, e.chat, e.message_id
      FROM events e
     WHERE e.position BETWEEN :lo AND :hi AND e.chat IS NOT NULL
       AND e.message_id IS NOT NULL
       AND e.type IN ('message.received', 'message.sent', 'tool.used', 'message.edited',
                      'message.deleted', 'content.redacted')
    UNION
    SELECT e.agent, e.platform, e.account, e.chat, e.reply_to
      FROM events e
     WHERE e.position BETWEEN :lo AND :hi AND e.chat IS NOT NULL
       AND e.reply_to IS NOT NULL AND e.type IN ('message.sent', 'tool.used')
    UNION
    SELECT * FROM unnest(CAST(:agents AS text[]), CAST(:platforms AS text[]),
                         CAST(:accounts AS text[]), CAST(:chats AS text[]),
                         CAST(:ids AS text[]))
)
SELECT i.agent, i.platform, i.account, i.chat, i.message_id, i.session_id, i.position
  FROM named r
  JOIN message_index i ON i.projection_id = :p AND i.agent = r.agent
   AND i.platform = r.platform AND i.account = r.account AND i.chat = r.chat
   AND i.message_id = r.message_id
""")
_ORIGINS = native(
    "SELECT thread_key, parent_session_id, parent_position FROM thread_origins "
    "WHERE projection_id = :p AND thread_key = ANY(:keys)")
_SESSIONS = native(
    "SELECT session_id, summary_position FROM sessions "
    "WHERE projection_id = :p AND session_id = ANY(:ids)")


def load(conn: Connection, projection_id: int, want: Wanted, span: tuple[int, int]) -> Known:
    """Heads, indexed messages, thread origins and existing sessions the batch can touch.

    `span` is (first, last) position of the batch's events.
    """
    known = Known()
    p = projection_id
    if want.keys:
        keys = list(want.keys)
        known.heads = {r[0]: Head(*r) for r in run(conn, _HEADS, {"p": p, "keys": keys})}
        known.origins = {r[0]: (r[1], r[2])
                         for r in run(conn, _ORIGINS, {"p": p, "keys": keys})}
    agents, platforms, accounts, chats, ids = columns(list(want.parents), 5)
    index: dict[MessageRef, Indexed] = {}
    for r in run(conn, INDEX, {"p": p, "lo": span[0], "hi": span[1], "agents": agents,
                                 "platforms": platforms, "accounts": accounts,
                                 "chats": chats, "ids": ids}):
        index[r[:5]] = (r[5], r[6])
    known.index = index
    wanted_sessions = want.sessions | {head.session_id for head in known.heads.values()}
    if wanted_sessions:
        known.sessions = {r[0]: r[1] for r in run(
            conn, _SESSIONS, {"p": p, "ids": list(wanted_sessions)})}
    return known
