"""A turn answered ahead of the fold: the projection as its checkpoint left it, plus the
events after the checkpoint (the unprojected tail) decided in memory by the fold's own
assigner.

A turn appends a message and must answer a context that holds it. Waiting until the
folder passes the message costs a notification, a batch and another notification:
most of a turn on an idle server. The answer needs less. The projection as of its
checkpoint holds the session's members and summary; the events after it, up to the
turn's own, are few (the folder follows the log), and which session each joins is
what `Assigner` decides from the head of the key, the sessions that exist and the
messages a reply names. The checkpoint, the head and the tail are read by one
statement, so from one snapshot, and the decision is the fold's own code: the fold
will put the tail's members exactly where this answer puts them.

Only the common case is answered so: a tail of messages and tool uses, in the
projection's own counts. Anything else waits for the fold as before: another kind of
event in the tail (an edit, a reset event, a thread, a summary), a turn that is a
reset command, a thread that opens with its parent's context, a count in another
encoding, a tail longer than TAIL_LIMIT (or than a turn may fold itself), unmerged
slices of a parallel build, or an event the fold would quarantine. Members rendered
here are kept (`projections.rendered.Kept`) with the row the fold will write for them,
so the next context of the session reads no content for them. A test compares every
answer given ahead with the context read at its position once the fold has passed it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from eventlog.database import driver_rows, driver_statement
from eventlog.envelopes import PAYLOAD_TYPES, Envelope
from eventlog.events import Event
from projections.context import (
    SESSION_COLUMNS,
    SESSION_SUMMARY,
    Context,
    ContextAssembler,
    SessionRow,
)
from projections.context import Ahead as AheadMember
from projections.errors import ResolveError, UnfoldableEvent
from projections.members import kept_row
from projections.projector.assign import Assigner, Known, Wanted, wanted
from projections.projector.native import run
from projections.projector.preload import INDEX
from projections.projector.state import MEMBER_KINDS, TRIGGER_TEXT_CHARS, Head
from projections.registry import ProjectionInfo
from projections.rendered import Kept
from projections.resolver import CompiledPolicy, compile_policy

# The checkpoint, the head of the turn's key (with its session, if the fold opened it)
# and every event after the checkpoint up to the turn's, with what rendering needs:
# one statement, so one snapshot (the fold moves the checkpoint and the heads in one
# transaction). Envelope columns as `eventlog.envelopes` reads them.
_TAIL = driver_statement(text(f"""
SELECT p.checkpoint, h.session_id, h.epoch, h.started_by, h.last_user_at,
       s.session_id IS NOT NULL, s.summary_position,
       e.position, e.type, e.agent, e.platform, e.account, e.space, e.chat, e.chat_type,
       e.topic, e.sender, e.message_id, e.reply_to, e.occurred_at,
       CASE WHEN e.type = 'message.received'
            THEN left(coalesce(c.text, c.command), {TRIGGER_TEXT_CHARS}) END,
       CASE WHEN e.type IN {PAYLOAD_TYPES!r} THEN e.payload END,
       c.text, c.sender_name, c.meta, c.erased_by IS NOT NULL, t.tokens,
       {SESSION_COLUMNS}
  FROM projections p
  LEFT JOIN session_heads h ON h.projection_id = p.id AND h.key = :key
  LEFT JOIN sessions s ON s.projection_id = p.id AND s.session_id = h.session_id
  {SESSION_SUMMARY.format(tokens="x.tokens", upper="p.checkpoint")}
  LEFT JOIN LATERAL (
        SELECT * FROM events e WHERE e.position > p.checkpoint AND e.position <= :upto
         ORDER BY e.position LIMIT :limit) e ON true
  -- Looked up per tail event (OFFSET 0 keeps them lateral): a plan reused for any tail
  -- must never scan these tables whole.
  LEFT JOIN LATERAL (
        SELECT * FROM event_content c WHERE c.position = e.position OFFSET 0) c ON true
  LEFT JOIN LATERAL (
        SELECT t.tokens FROM token_counts t
         WHERE t.encoding = :encoding AND t.position = e.position OFFSET 0) t ON true
 WHERE p.id = :p
   -- A parallel build's slices not merged yet: the rows run ahead of the checkpoint.
   AND NOT EXISTS (SELECT FROM projection_slices ps WHERE ps.projection_id = p.id)
 ORDER BY e.position
"""))
# The heads of the tail's other keys, with their sessions, and the checkpoint: a fold
# that committed since the statement above makes the answer wait instead.
_HEADS = driver_statement(text("""
SELECT p.checkpoint, h.key, h.session_id, h.epoch, h.started_by, h.last_user_at,
       s.session_id IS NOT NULL, s.summary_position
  FROM projections p
  LEFT JOIN session_heads h ON h.projection_id = p.id AND h.key = ANY(:keys)
  LEFT JOIN sessions s ON s.projection_id = p.id AND s.session_id = h.session_id
 WHERE p.id = :p
"""))
_ENVELOPE = slice(7, 22)
_SESSION = slice(27, 35)  # the head's session as of the checkpoint (SessionRow)
_REPLIES = ("message.sent", "tool.used")
# Events after the checkpoint a turn decides itself, at most: the folder follows the log
# a few dozen events behind; a longer tail (a backlog, an import) is the folder's.
TAIL_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Ahead:
    """A turn's answer given ahead of the fold."""

    session_id: uuid.UUID
    context: Context


def answer_ahead(conn: Connection, info: ProjectionInfo, assembler: ContextAssembler,
                 event: Event, position: int, *, budget: int, tag_senders: bool,
                 max_tail: int) -> Ahead | None:
    """The context of the session `event` (appended at `position`) joins, as the fold will
    make it, or None where the turn must wait for the fold (see the module's docstring).

    The context is read at the checkpoint the statement saw and completed with the
    tail's members of the session; nothing in it is later than `position`.
    """
    policy = compile_policy(info.policy)
    if policy.encoding != assembler.counter.encoding_name:
        return None
    try:
        key = policy.resolve(event).key
    except ResolveError:
        return None
    read: _Read | bool = True
    for _ in range(2):  # a fold that commits between the tail and the heads: once more
        read = _read(conn, info.id, policy, key, position, min(max_tail, TAIL_LIMIT))
        if read is not True:
            break
    if not isinstance(read, _Read):
        return None
    rows, tail, want, known = read
    out = Assigner(policy, known).run(tail, want.resolutions)
    joined = dict(zip(out.member_positions, out.member_sessions, strict=True))
    session_id = joined.get(position)
    if session_id is None:
        return None  # a reset command opens a session it does not enter
    opened = {row[0]: row for row in out.opened}
    if session_id in opened and policy.policy.threads.inherit_parent and any(
            resolution is not None and resolution.is_thread
            and resolution.key == opened[session_id][1] for resolution in want.resolutions):
        return None  # a thread's first context may begin with its parent's (origins)
    head = SessionRow(*rows[0][_SESSION])
    kept = assembler.kept[tag_senders]
    kept.advance(head.generation)
    ahead = [_member(assembler, kept, head.generation, row, tag_senders)
             for row in reversed(rows) if joined.get(row[7]) == session_id]
    if session_id in opened:
        context = Context(session_id, str(opened[session_id][1]), budget, None)
        assembler.take_ahead(context, ahead, 0, budget)
        context.items.reverse()
    else:
        # The head's session as the first statement read it, if that is the one joined.
        session = head if session_id == rows[0][1] and rows[0][5] else None
        context = assembler.assemble_ahead(conn, info.id, session_id, checkpoint=rows[0][0],
                                           ahead=ahead, budget=budget,
                                           tag_senders=tag_senders, session=session)
    return Ahead(session_id, context)


class _Read(NamedTuple):
    rows: list[tuple[Any, ...]]
    tail: list[Envelope]
    want: Wanted
    known: Known


def _read(conn: Connection, projection_id: int, policy: CompiledPolicy, key: str,
          position: int, max_tail: int) -> _Read | bool:
    """The tail up to `position` and what the fold would load for it; False where the
    turn must wait for the fold, True where the fold moved between the reads."""
    try:
        rows = driver_rows(conn, _TAIL, {"p": projection_id, "key": key, "upto": position,
                                         "encoding": policy.encoding, "limit": max_tail + 1})
    except DBAPIError:
        if conn.invalidated:
            raise
        return False  # an event the driver cannot load: the fold quarantines it
    if not rows or rows[0][7] is None or len(rows) > max_tail or rows[-1][7] != position:
        return False  # no projection, already folded, a long tail, or not this event's
    tail = [Envelope._make(row[_ENVELOPE]) for row in rows]
    if any(envelope.type not in MEMBER_KINDS for envelope in tail):
        return False
    try:
        want = wanted(policy, tail)
    except (ResolveError, UnfoldableEvent):
        return False  # the fold quarantines it; the turn learns so by waiting
    known = _known(conn, projection_id, (key, *rows[0][:7]), want.keys, tail)
    return True if known is None else _Read(rows, tail, want, known)


def _known(conn: Connection, projection_id: int, head: tuple[Any, ...], keys: set[str],
           tail: list[Envelope]) -> Known | None:
    """What the fold would load for the tail, as the projection's checkpoint left it: the
    heads of its keys with their sessions, and the indexed messages its replies name.
    `head` is the turn's key with the first statement's checkpoint and head columns.
    None: the fold moved the checkpoint between the statements."""
    key, checkpoint = head[0], head[1]
    heads = [(key, *head[2:])]
    if keys - {key}:
        rows = driver_rows(conn, _HEADS, {"p": projection_id, "keys": list(keys - {key})})
        if not rows or rows[0][0] != checkpoint:
            return None
        heads.extend(row[1:] for row in rows)
    known = Known()
    for key, session_id, epoch, started_by, last_user_at, exists, covers in heads:
        if session_id is not None:
            known.heads[key] = Head(key, session_id, epoch, started_by, last_user_at)
            if exists:
                known.sessions[session_id] = covers
    if any(e.type in _REPLIES and e.reply_to is not None and e.chat is not None
           for e in tail):
        for r in run(conn, INDEX, {"p": projection_id, "lo": tail[0].position,
                                    "hi": tail[-1].position, "agents": [], "platforms": [],
                                    "accounts": [], "chats": [], "ids": []}):
            if r[6] <= checkpoint:  # a later entry is one the tail itself makes
                known.index[r[:5]] = (r[5], r[6])
    return known


def _member(assembler: ContextAssembler, kept: Kept, generation: int, row: tuple[Any, ...],
            tag_senders: bool) -> AheadMember:
    """A tail event as the member the fold will write for it: position, count, rendering.
    The rendering is kept for the contexts that read the member once folded (with the
    row the fold will write, unchanged, and the generation its content was read under)."""
    (position, kind, sender, platform, chat, topic, content, sender_name, meta, erased,
     tokens) = (row[7], MEMBER_KINDS[row[8]], row[16], row[10], row[13], row[15], row[22],
                row[23], row[24], row[25], row[26])
    if tokens is None:  # not counted yet: counted as the counters will count it
        tokens = assembler.counter.count(content or "")
    item = assembler.render((position, 0, kind, sender, tokens, 0, platform, chat, topic,
                             content, sender_name, meta, erased, None, None, None, False),
                            tag_senders)
    kept.put(position, kept_row(position, kind, sender, tokens), item, generation)
    return position, tokens, item
