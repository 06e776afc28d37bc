"""The log read once for every compared policy; each candidate's sessions decided in memory.

A candidate is never written as a projection: its sessions are decided by the
projector's own `assign` step (so they are exactly the sessions `projection
create` would make), on state that stays in this process instead of the session
tables. What `assign` would look up in a projection's message index (which
member first carried a message id) is read from the log instead: the positions
of the message events carrying each id the batch names are the same under every
policy, and the candidate's own assignments say which of them is a member and of
which session. A baseline projection is read from its tables.

Memory: one 4-byte session number per log position for each compared policy,
plus the heads and sessions of each; events are read in batches.
"""

from __future__ import annotations

import uuid
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from eventlog.envelopes import Envelope, read_envelopes
from projections.projector.assign import Assigner, Indexed, Known, Wanted, wanted
from projections.projector.quarantine import blame, read_isolating
from projections.projector.state import MessageRef
from projections.resolver import CompiledPolicy

BATCH = 20_000
_FIRST_CHARS = 256  # of a user's text, for reset commands (as the projector reads them)

# Every message event carrying each id a batch's events look up: the targets of
# replies and thread parents (a member's own id needs no look-up, see `_Carried`;
# the targets of edits and deletions change no session), up to the batch's end.
_CARRIERS = """
WITH named AS (
    SELECT DISTINCT e.agent, e.platform, e.account, e.chat, e.reply_to AS message_id
      FROM events e
     WHERE e.position BETWEEN %(lo)s AND %(hi)s AND e.chat IS NOT NULL
       AND e.reply_to IS NOT NULL AND e.type IN ('message.sent', 'tool.used')
    UNION
    SELECT * FROM unnest(%(agents)s::text[], %(platforms)s::text[], %(accounts)s::text[],
                         %(chats)s::text[], %(ids)s::text[])
)
SELECT n.agent, n.platform, n.account, n.chat, n.message_id,
       array_agg(e.position ORDER BY e.position)
  FROM named n
  JOIN events e ON e.platform = n.platform AND e.chat = n.chat
   AND e.message_id = n.message_id AND e.agent = n.agent AND e.account = n.account
   AND e.position <= %(hi)s AND e.type IN ('message.received', 'message.sent', 'tool.used')
 GROUP BY 1, 2, 3, 4, 5
"""
_TOKENS = ("SELECT position, tokens FROM token_counts WHERE encoding = %(e)s "
           "AND position BETWEEN %(lo)s AND %(hi)s")
# A summary is sent only while its text stands (erasure withdraws it).
_STANDING = ("SELECT position FROM event_content WHERE position = ANY(%(p)s) "
             "AND erased_by IS NULL")


@dataclass(slots=True)
class Batch:
    """One range of the log as every compared policy sees it."""

    events: list[Envelope]
    tokens: dict[str, dict[int, int]]  # encoding -> position -> count
    carriers: dict[MessageRef, list[int]]
    standing: set[int]  # summaries whose text is not erased


def _cursor(conn: Connection, *, binary: bool = False) -> Any:
    return conn.connection.driver_connection.cursor(binary=binary)  # type: ignore[union-attr]


def read_batches(conn: Connection, upto: int, encodings: Sequence[str], *,
                 batch: int = BATCH) -> Iterator[Batch]:
    """The log up to `upto` in ranges of `batch` positions; unreadable events left out
    (the projector quarantines them)."""

    def read(after: int, limit: int, bound: int) -> list[Envelope]:
        return read_envelopes(conn, after, limit, bound, text_chars=_FIRST_CHARS)

    after = 0
    while after < upto:
        hi = min(upto, after + batch)
        try:
            with conn.begin_nested():
                events = read(after, batch, hi)
        except Exception as error:
            if blame(error) is None:
                raise
            events, bad = read_isolating(conn, read, after, batch, hi)
            if bad is not None:
                hi = bad.position
        if events:
            yield _complete(conn, events, encodings, after + 1, hi)
        after = hi


def read_ahead(engine: Engine, upto: int, encodings: Sequence[str]) -> Iterator[Batch]:
    """`read_batches` on a connection and thread of its own, one batch ahead of the
    caller: the server reads while the caller decides and counts. Events up to
    `upto` (at or below the horizon) never change, so the reader needs no snapshot
    shared with the caller's."""
    # The reader is shut down (its read finished) before the connection closes.
    with engine.connect() as conn, conn.begin(), ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="convlog-simulate-reader") as reader:
        conn.execute(text("SET LOCAL jit = off"))
        batches = read_batches(conn, upto, encodings)  # advanced by the reader thread only
        following = reader.submit(next, batches, None)
        while (batch := following.result()) is not None:
            following = reader.submit(next, batches, None)
            yield batch


def _complete(conn: Connection, events: list[Envelope], encodings: Sequence[str],
              lo: int, hi: int) -> Batch:
    cursor = _cursor(conn)
    try:
        tokens = {}
        for encoding in encodings:
            cursor.execute(_TOKENS, {"e": encoding, "lo": lo, "hi": hi})
            tokens[encoding] = dict(cursor.fetchall())
        parents = [(e.agent, e.platform, e.account, e.chat, str(e.payload["parent_message_id"]))
                   for e in events if e.type == "thread.created" and e.chat is not None
                   and e.payload.get("parent_message_id") is not None]
        columns: list[list[str | None]] = [[p[i] for p in parents] for i in range(5)]
        cursor.execute(_CARRIERS, {"lo": lo, "hi": hi, "agents": columns[0],
                                   "platforms": columns[1], "accounts": columns[2],
                                   "chats": columns[3], "ids": columns[4]})
        carriers = {row[:5]: row[5] for row in cursor.fetchall()}
        summaries = [e.position for e in events if e.type == "summary.recorded"]
        standing: set[int] = set()
        if summaries:
            cursor.execute(_STANDING, {"p": summaries})
            standing = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
    return Batch(events, tokens, carriers, standing)


class Sessions:
    """Which session each log position is a member of, under one policy."""

    def __init__(self, upto: int) -> None:
        self.of = array("i", bytes(4 * (upto + 1)))  # position -> session number, 0: none
        self.ids: list[uuid.UUID | None] = [None]  # session number -> id
        self.number: dict[uuid.UUID, int] = {}
        self.keys: list[str] = [""]
        self.agents: list[str] = [""]

    def add(self, session_id: uuid.UUID, key: str, agent: str) -> int:
        n = len(self.ids)
        self.ids.append(session_id)
        self.number[session_id] = n
        self.keys.append(key)
        self.agents.append(agent)
        return n

    def numbered(self, session_id: uuid.UUID) -> int:
        """The session's number, a new one (its key and agent to come) the first time."""
        n = self.number.get(session_id)
        return n if n is not None else self.add(session_id, "", "")


class _Carried:
    """`Known.index` for a replay: the member that first carried each message id.

    `assign` asks it for the targets of replies and thread parents (`get`), and
    whether a new member's own id was carried before (`in`), to index the member
    if not. The replay records every member's session itself, and a later carrier
    of an id is never the first, so `in` can say no without a look-up: the first
    carrier's session is what `get` finds, whoever else carried the id.
    """

    def __init__(self, carriers: dict[MessageRef, list[int]], sessions: Sessions) -> None:
        self.carriers = carriers
        self.sessions = sessions

    def get(self, ref: MessageRef, default: Indexed | None = None) -> Indexed | None:
        of, ids = self.sessions.of, self.sessions.ids
        for position in self.carriers.get(ref, ()):
            n = of[position]
            if n:
                session_id = ids[n]
                assert session_id is not None
                return session_id, position
        return default

    def __contains__(self, ref: object) -> bool:
        return False

    def __setitem__(self, ref: MessageRef, value: Indexed) -> None:
        session_id, position = value
        self.sessions.of[position] = self.sessions.numbered(session_id)


@dataclass
class Replay:
    """One candidate policy's sessions, decided batch by batch in memory."""

    policy: CompiledPolicy
    sessions: Sessions
    known: Known = field(default_factory=Known)
    # Summaries that moved their session's summary forward: position -> (session, covers).
    summaries: dict[int, tuple[int, int]] = field(default_factory=dict)
    skipped: int = 0  # events the projector would quarantine

    def assign(self, batch: Batch) -> None:
        """Decide the batch's events: sessions opened are numbered in opening order."""
        events, want = self._wanted(batch.events)
        sessions = self.sessions
        self.known.index = _Carried(batch.carriers, sessions)  # type: ignore[assignment]
        out = Assigner(self.policy, self.known).run(events, want.resolutions)
        numbered = sessions.numbered
        for row in out.opened:
            n = numbered(row[0])  # type: ignore[arg-type]
            sessions.keys[n], sessions.agents[n] = str(row[1]), str(row[4])
        of = sessions.of
        for session_id, position in zip(out.member_sessions, out.member_positions, strict=True):
            of[position] = numbered(session_id)
        for session_id, position, covers in out.summaries:
            self.summaries[position] = (numbered(session_id), covers)

    def _wanted(self, events: list[Envelope]) -> tuple[list[Envelope], Wanted]:
        """The batch's resolutions; events the projector would quarantine left out."""
        try:
            return events, wanted(self.policy, events)
        except Exception as error:
            if blame(error) is None:
                raise
        kept: list[Envelope] = []
        want = Wanted()
        for event in events:
            try:
                one = wanted(self.policy, [event])
            except Exception as error:
                if blame(error) is None:
                    raise
                self.skipped += 1
                continue
            kept.append(event)
            want.resolutions.extend(one.resolutions)
        return kept, want


# -- a projection that exists: its sessions from its tables -----------------------------------

_SESSIONS = ("SELECT session_id, key, agent FROM sessions WHERE projection_id = :p "
             "ORDER BY session_id")
_MEMBERS = """
SELECT m.position, s.n
  FROM session_members m
  JOIN (SELECT session_id, row_number() OVER (ORDER BY session_id)::integer AS n
          FROM sessions WHERE projection_id = %(p)s) s USING (session_id)
 WHERE m.projection_id = %(p)s AND m.position <= %(upto)s
"""
_SUMMARIES = text(
    "SELECT ss.position, ss.session_id, ss.covers_position, ss.tokens FROM session_summaries ss "
    "JOIN event_content c ON c.position = ss.position AND c.erased_by IS NULL "
    "WHERE ss.projection_id = :p AND ss.position <= :upto")


def read_projection(conn: Connection, projection_id: int, upto: int
                    ) -> tuple[Sessions, dict[int, tuple[int, int, int]]]:
    """A projection's sessions up to `upto`, and its standing summaries:
    position -> (session number, covers, tokens)."""
    sessions = Sessions(upto)
    for row in conn.execute(text(_SESSIONS), {"p": projection_id}):
        sessions.add(row.session_id, row.key, row.agent)
    of = sessions.of
    cursor = _cursor(conn, binary=True)
    try:
        cursor.execute(_MEMBERS, {"p": projection_id, "upto": upto})
        while rows := cursor.fetchmany(100_000):
            for position, n in rows:
                of[position] = n
    finally:
        cursor.close()
    summaries = {row.position: (sessions.number[row.session_id], row.covers_position, row.tokens)
                 for row in conn.execute(_SUMMARIES, {"p": projection_id, "upto": upto})}
    return sessions, summaries
