"""The default fold: decide each event's session in Python, then write the batch as sets.

A batch costs a handful of statements whatever its size: four loads of what
earlier batches left (heads, indexed messages, thread origins, sessions), the
sequential walk in `assign`, and the set-based writes in `sets`. Small batches
(a gateway's read-your-writes catch-up) and a rebuild's large ones take the
same path, so there is one fold to trust.

A catch-up overlaps the next batch's decisions with this batch's writes. Resolving each
event's key needs no database (`prepare_batch`); deciding its session needs what the
batches before left (`Known`), and `plan_batch` has it without waiting for this
batch's commit: what this batch decided is in memory (the state its fold hands over),
and everything else is as the last committed batch left it, which the next batch's
loads read on a connection of their own. The writes stay in order, one transaction per
batch; a plan whose batch before did not commit, or was folded otherwise (isolating a
poison event), is never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, text

from eventlog.envelopes import Envelope
from eventlog.tokens import ensure_counted
from projections.projector import preload, sets
from projections.projector.assign import Assigner, Known, Wanted, wanted
from projections.projector.interface import FoldOutcome
from projections.projector.state import MessageRef
from projections.resolver import CompiledPolicy


class Seen:
    """What a build has indexed, as one bit per hash of a message's name.

    A build from an empty index looks up every message its events name, and finds almost
    none: a message is named first by itself, and replies and edits mostly point back
    into their own batch. A clear bit proves a name was never indexed, so only names
    whose bit is set are looked up. A set bit may be another name's, which costs a
    look-up, never a wrong answer. Valid only while every index row of the projection
    went through `add`: from an empty index, one process, no batch folded around it.
    """

    BITS_PER_EVENT = 32  # about 3 % of never-indexed names looked up in vain at 1M
    MIN_BITS, MAX_BITS = 1 << 16, 1 << 27  # 8 KiB to 16 MiB

    def __init__(self, events: int) -> None:
        bits = self.MIN_BITS
        while bits < min(events * self.BITS_PER_EVENT, self.MAX_BITS):
            bits <<= 1
        self._bits = bytearray(bits >> 3)
        self._mask = bits - 1

    def add(self, names: Iterable[MessageRef]) -> None:
        bits, mask = self._bits, self._mask
        for name in names:
            h = hash(name) & mask
            bits[h >> 3] |= 1 << (h & 7)

    def may_hold(self, name: MessageRef) -> bool:
        h = hash(name) & self._mask
        return bool(self._bits[h >> 3] >> (h & 7) & 1)


@dataclass(frozen=True, slots=True)
class Plan:
    """A batch's decisions, made before the batch before it committed (`plan_batch`)."""

    known: Known  # the state after this batch's decisions, handed over to the next plan
    rows: sets.Rows  # the decisions, as the writes' parameters


def prepare_batch(policy: CompiledPolicy, events: Sequence[Envelope], /) -> Wanted:
    """The default fold's BatchPrepare: every event resolved, and what to load for them."""
    return wanted(policy, events)


def plan_batch(engine: Engine, projection_id: int, policy: CompiledPolicy,
               events: Sequence[Envelope], want: Wanted, before: Known,
               seen: Seen | None = None) -> Plan:
    """Decide `events`' sessions given `before`, the state the batch just before them left
    in memory (it may not have committed yet).

    The loads read what committed batches left; of what the batch before loaded or
    decided (`before`), what these events can touch wins. Only that is kept, so what a
    plan holds, and hands on, stays the size of a batch: anything older has committed
    by the time the next plan loads. Heads are copied: the batch before's writer may
    still be reading its own (a batch folded without a plan makes its write parameters
    as it writes). With `seen` (a build's), only the names it may have
    indexed are looked up; what the batch before indexed is in `before` either way.
    """
    named = _named(events, want)
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL jit = off"))  # as the catch-up's own batches
        known = preload.load(conn, projection_id, want,
                             (events[0].position, events[-1].position),
                             None if seen is None else
                             [name for name in named if seen.may_hold(name)])
    keys = want.keys
    known.heads.update({key: replace(head) for key, head in before.heads.items()
                        if key in keys})
    known.origins.update({key: origin for key, origin in before.origins.items()
                          if key in keys})
    known.index.update({ref: place for ref, place in before.index.items() if ref in named})
    sessions = want.sessions | {head.session_id for head in known.heads.values()}
    known.sessions.update({session: covers for session, covers in before.sessions.items()
                           if session in sessions})
    return Plan(known, sets.rows_of(Assigner(policy, known).run(events, want.resolutions)))


_OWN_IDS = frozenset({"message.received", "message.sent", "tool.used", "message.edited",
                      "message.deleted", "content.redacted"})
_REPLIES = frozenset({"message.sent", "tool.used"})


def _named(events: Sequence[Envelope], want: Wanted) -> set[MessageRef]:
    """The messages `events` can look up in the index, as the loads name them
    (`preload.INDEX`): members' and changes' own ids, replies' targets, thread parents."""
    named = set(want.parents)
    for e in events:
        if e.chat is None:
            continue
        if e.message_id is not None and e.type in _OWN_IDS:
            named.add((e.agent, e.platform, e.account, e.chat, e.message_id))
        if e.reply_to is not None and e.type in _REPLIES:
            named.add((e.agent, e.platform, e.account, e.chat, e.reply_to))
    return named


def fold_batch(conn: Connection, projection_id: int, policy: CompiledPolicy,
               events: Sequence[Envelope], /, prepared: object | None = None,
               decided: Callable[[object], None] | None = None) -> FoldOutcome:
    """The default BatchFold: load what the batch needs, assign, count, write.

    `prepared`: the batch's Wanted (`prepare_batch`), or its Plan (`plan_batch`), whose
    decisions are written as they are. `decided` gets the batch's Known before the writes.
    """
    span = (events[0].position, events[-1].position)
    if isinstance(prepared, Plan):
        known, rows = prepared.known, prepared.rows
    else:
        want = prepared if isinstance(prepared, Wanted) else wanted(policy, events)
        known = preload.load(conn, projection_id, want, span)
        rows = sets.rows_of(Assigner(policy, known).run(events, want.resolutions))
    if decided is not None:
        decided(known)
    # Counts are the workers' job (once per event and encoding); a fold that outruns
    # them counts what it needs, so it never meets a missing count.
    encoding = policy.encoding
    ensure_counted(conn, encoding, events[-1].position)
    touched = sets.write(conn, projection_id, encoding, policy.policy.compaction, rows, span)
    return FoldOutcome(members=rows.members, sessions_touched=touched)
