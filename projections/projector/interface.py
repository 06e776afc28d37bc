"""The one seam between the catch-up loop and whatever folds a batch into the session tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from eventlog.envelopes import Envelope
from projections.resolver import CompiledPolicy


@dataclass(frozen=True, slots=True)
class FoldOutcome:
    """What a fold reports about the rows it wrote for one batch."""

    members: int
    sessions_touched: int


class BatchFold(Protocol):
    """Folds one batch of events into the session tables of a projection.

    Called inside the batch's transaction with the events after the checkpoint,
    in position order and never empty, as envelopes (`eventlog.envelopes`: no
    content but a user text's first TRIGGER_TEXT_CHARS characters); the fold
    writes its rows on `conn` and neither commits nor touches the checkpoint,
    which the loop moves afterwards in the same transaction. Its result must
    depend only on the events and the tables, never on where batch boundaries fell.
    `prepared` is what the fold's `prepare` (see BatchPrepare) made of exactly these
    events ahead of time, or None: then the fold does that work itself. `decided`, if
    given, is called with the state the batch's decisions leave in memory once they are
    made and before they are written (the default fold's Known), so that the next
    batch's decisions can be made while this one's rows are written.
    """

    def __call__(self, conn: Connection, projection_id: int, policy: CompiledPolicy,
                 events: Sequence[Envelope], /, prepared: object | None = None,
                 decided: Callable[[object], None] | None = None) -> FoldOutcome: ...


class BatchPrepare(Protocol):
    """A fold's pure work on a batch (no database), done ahead on another thread."""

    def __call__(self, policy: CompiledPolicy, events: Sequence[Envelope], /) -> object: ...
