"""The next batch's envelopes, read while the current batch is folded.

A batch's fold spends most of its time waiting for the server to write; the
next batch's read needs nothing the fold writes (events at or below the horizon
never change), so a thread reads it meanwhile on a connection of its own. The
catch-up takes a read only for exactly the range it asked for, and reads
itself otherwise: when the range moved (the horizon grew, a poison event cut
the batch short) or the read failed (the catch-up's own read meets the error
again and isolates the event to blame, as without read-ahead).

With `prepare`, the thread also does the batch's pure work once the events are read
(the default fold resolves every event's key under the policy): it runs while the
catch-up waits for the server to write the batch before, so the two overlap. A
preparation that fails is dropped, and the fold prepares for itself.

With `plan` as well, the thread then waits for the state the batch before hands over
once its decisions are made (`hand_over`, before its writes) and makes this batch's
decisions from it (the default fold's `plan_batch`) while those writes run. A batch
that hands nothing over (`take` without a hand-over, as when it was folded isolating a
poison event) leaves no plan; nor does a plan that fails.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine, text

from eventlog.envelopes import Envelope, read_envelopes
from eventlog.partition import Partition

Range = tuple[int, int, int]  # (after, limit, upto) of read_envelopes
Prepare = Callable[[list[Envelope]], object]
# (events, their preparation, the state the batch before handed over) -> the plan
Planner = Callable[[list[Envelope], object, object], object]
Read = tuple[list[Envelope], object | None]  # the events and what `prepare` made of them


class ReadAhead:
    def __init__(self, engine: Engine, partition: Partition | None, text_chars: int, *,
                 prepare: Prepare | None = None, plan: Planner | None = None) -> None:
        self.engine = engine
        self.partition = partition
        self.text_chars = text_chars
        self.prepare = prepare
        self.plan = plan if prepare is not None else None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convlog-read-ahead")
        self._pending: tuple[Range, Future[Read]] | None = None
        self._handed: Future[object | None] | None = None  # to the read under way

    def schedule(self, after: int, limit: int, upto: int) -> None:
        """Start reading (after, upto], at most `limit` events."""
        self._drop()
        wanted = (after, limit, upto)
        handed: Future[object | None] = Future()
        self._handed = handed
        self._pending = (wanted, self._pool.submit(self._read, wanted, handed))

    def hand_over(self, state: object | None) -> None:
        """The state the batch before the one read ahead leaves, its decisions made (None:
        plan nothing). Only the first hand-over to a read counts."""
        handed = self._handed
        if handed is not None and not handed.done():
            handed.set_result(state)

    def take(self, after: int, limit: int, upto: int) -> Read | None:
        """The events read ahead for exactly this range, and their preparation (None
        when there was none or it failed); None: read them yourself."""
        self.hand_over(None)  # a batch that handed nothing over leaves no plan
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        wanted, future = pending
        if wanted != (after, limit, upto):
            future.cancel()
            return None
        try:
            return future.result()
        except Exception:  # the caller's own read meets it again, and says what it is
            return None

    def discard(self) -> None:
        """Forget the read under way: the batch before it is being folded again."""
        self._drop()

    def close(self) -> None:
        self._drop()
        self._pool.shutdown(wait=True)

    def _drop(self) -> None:
        self.hand_over(None)
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None

    def _read(self, wanted: Range, handed: Future[object | None]) -> Read:
        after, limit, upto = wanted
        with self.engine.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL jit = off"))  # as the catch-up's own batches
            events = read_envelopes(conn, after, limit, upto, partition=self.partition,
                                    text_chars=self.text_chars)
        if self.prepare is None or not events:
            return events, None
        try:
            prepared = self.prepare(events)
        except Exception:  # an event to blame: the fold meets it again and isolates it
            return events, None
        if self.plan is None:
            return events, prepared
        before = handed.result()  # set by hand_over, take or the read's drop
        if before is None:
            return events, prepared
        try:
            return events, self.plan(events, prepared, before)
        except Exception:  # the fold decides for itself, and meets the error if it is one
            return events, prepared
