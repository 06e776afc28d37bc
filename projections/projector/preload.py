"""The fold's loads: what earlier batches left that a batch's events can touch."""

from __future__ import annotations

from collections.abc import Collection

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
SELECT r.agent, r.platform, r.account, r.chat, r.message_id, i.session_id, i.position
  FROM named r
  -- One primary-key look-up a name. Left to itself the planner hashes the projection's
  -- whole index (a scan that grows with every batch of a build) to find the few names a
  -- batch's replies and edits point back at; OFFSET 0 keeps the look-up per name.
  CROSS JOIN LATERAL (
      SELECT i.session_id, i.position FROM message_index i
       WHERE i.projection_id = :p AND i.agent = r.agent AND i.platform = r.platform
         AND i.account = r.account AND i.chat = r.chat AND i.message_id = r.message_id
      OFFSET 0) i
""")
# The same look-up for names the caller lists (a build's, once its own record of what it
# indexed has ruled out the rest: `fold.Seen`).
INDEX_OF = native("""
SELECT r.agent, r.platform, r.account, r.chat, r.message_id, i.session_id, i.position
  FROM unnest(CAST(:agents AS text[]), CAST(:platforms AS text[]), CAST(:accounts AS text[]),
              CAST(:chats AS text[]), CAST(:ids AS text[]))
       AS r(agent, platform, account, chat, message_id)
  CROSS JOIN LATERAL (
      SELECT i.session_id, i.position FROM message_index i
       WHERE i.projection_id = :p AND i.agent = r.agent AND i.platform = r.platform
         AND i.account = r.account AND i.chat = r.chat AND i.message_id = r.message_id
      OFFSET 0) i
""")
# A probe per key: thread origins are few, so the planner reads them all, and tested
# every one against the whole array of the batch's keys (2.8 s of a 1M build).
_ORIGINS = native(
    "SELECT o.thread_key, o.parent_session_id, o.parent_position "
    "FROM unnest(CAST(:keys AS text[])) AS k(key) CROSS JOIN LATERAL ("
    "SELECT * FROM thread_origins o WHERE o.projection_id = :p AND o.thread_key = k.key "
    "OFFSET 0) o")
_SESSIONS = native(
    "SELECT session_id, summary_position FROM sessions "
    "WHERE projection_id = :p AND session_id = ANY(:ids)")


def load(conn: Connection, projection_id: int, want: Wanted, span: tuple[int, int],
         names: Collection[MessageRef] | None = None) -> Known:
    """Heads, indexed messages, thread origins and existing sessions the batch can touch.

    `span` is (first, last) position of the batch's events. `names`: the only messages
    to look up in the index (they include the thread parents), instead of every one the
    batch's events name.
    """
    known = Known()
    p = projection_id
    if want.keys:
        keys = list(want.keys)
        known.heads = {r[0]: Head(*r) for r in run(conn, _HEADS, {"p": p, "keys": keys})}
        known.origins = {r[0]: (r[1], r[2])
                         for r in run(conn, _ORIGINS, {"p": p, "keys": keys})}
    listed = want.parents if names is None else names
    agents, platforms, accounts, chats, ids = columns(list(listed), 5)
    arrays = {"p": p, "agents": agents, "platforms": platforms, "accounts": accounts,
              "chats": chats, "ids": ids}
    index: dict[MessageRef, Indexed] = {}
    if names is None or names:
        found = (run(conn, INDEX, {**arrays, "lo": span[0], "hi": span[1]})
                 if names is None else run(conn, INDEX_OF, arrays))
        for r in found:
            index[r[:5]] = (r[5], r[6])
    known.index = index
    wanted_sessions = want.sessions | {head.session_id for head in known.heads.values()}
    if wanted_sessions:
        known.sessions = {r[0]: r[1] for r in run(
            conn, _SESSIONS, {"p": p, "ids": list(wanted_sessions)})}
    return known
