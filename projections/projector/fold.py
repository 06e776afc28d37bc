"""The default fold: decide each event's session in Python, then write the batch as sets.

A batch costs a handful of statements whatever its size: four loads of what
earlier batches left (heads, indexed messages, thread origins, sessions), the
sequential walk in `assign`, and the set-based writes in `sets`. Small batches
(a gateway's read-your-writes catch-up) and a rebuild's large ones take the
same path, so there is one fold to trust. Resolving each event's key needs no
database (`prepare_batch`): a catch-up does it for the next batch while the server
writes this one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from eventlog.envelopes import Envelope
from eventlog.tokens import ensure_counted
from projections.projector import preload, sets
from projections.projector.assign import Assigner, Wanted, wanted
from projections.projector.interface import FoldOutcome
from projections.resolver import CompiledPolicy


def prepare_batch(policy: CompiledPolicy, events: Sequence[Envelope], /) -> Wanted:
    """The default fold's BatchPrepare: every event resolved, and what to load for them."""
    return wanted(policy, events)


def fold_batch(conn: Connection, projection_id: int, policy: CompiledPolicy,
               events: Sequence[Envelope], /, prepared: object | None = None) -> FoldOutcome:
    """The default BatchFold: load what the batch needs, assign, count, write."""
    span = (events[0].position, events[-1].position)
    want = prepared if isinstance(prepared, Wanted) else wanted(policy, events)
    known = preload.load(conn, projection_id, want, span)
    out = Assigner(policy, known).run(events, want.resolutions)
    # Counts are the workers' job (once per event and encoding); a fold that outruns
    # them counts what it needs, so it never meets a missing count.
    encoding = policy.encoding
    ensure_counted(conn, encoding, events[-1].position)
    touched = sets.write(conn, projection_id, encoding, policy.policy.compaction, out, span)
    return FoldOutcome(members=len(out.member_positions), sessions_touched=touched)
