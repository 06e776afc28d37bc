"""One folder per process: the active projection followed as the log grows, so many turns
wait for one batch instead of each folding the projection itself.

A server starts a `Follower`. Its thread LISTENs for appends (every append notifies
at commit) and for checkpoints other processes move, folds the active projection
after each wake-up (coalesced: a burst of turns is one batch; while appends keep
coming, at most every FOLD_PACE seconds), and wakes the readers waiting for a
position. Most turns do not wait (`projections.ahead`); the fold's statements are
shared by every turn of the batch.

Nothing is lost if the thread or the process dies: the projection resumes from its
own checkpoint, and a turn that cannot be answered in time is refused
(PROJECTION_LAGGING) after its event is safely in the log. When another process
holds the projector (a `convlog worker`), this one folds nothing and wakes its turns
on that process's checkpoint notifications instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

from eventlog.database import libpq_url
from eventlog.schema import EVENTS_CHANNEL
from eventlog.search_index import keep_current
from eventlog.store import EventStore
from projections.consistency import ProjectionLagging, checkpoint_of
from projections.projector import Projector
from projections.registry import ACTIVATION_CHANNEL, CHECKPOINT_CHANNEL, ProjectionInfo, get

log = logging.getLogger("convlog.following")

IDLE_SECONDS = 1.0  # a wake-up without a notification: activation changes, lost notices
STALL_SECONDS = 2.0  # appends arrive and the checkpoint stands still: fold here
REREAD_SECONDS = 1.0  # the active projection is read again at least this often
# A folder folds at most this often while appends keep coming: turns are answered ahead
# of the fold (`projections.ahead`), so a batch per append would only buy readers that
# wait for a position (`after`) a few milliseconds, at a fold's fixed cost per append.
FOLD_PACE = 0.03


class Follower:
    """Folds the active projection as appends arrive (paced); `wait` is read-your-writes."""

    def __init__(self, engine: Engine, store: EventStore,
                 notices: dict[str, Callable[[], None]] | None = None, *,
                 folds: bool = True) -> None:
        """`notices`: more channels to listen on, each with what to call on a notice (and
        on every connection, since a notice sent while not listening is lost).

        `folds=False`: another process is this one's folder (`convlog serve` starts one,
        so the fold does not compete with requests for this process's interpreter);
        this follower takes checkpoints from its notices and folds only when the
        projection has not moved for STALL_SECONDS while appends arrive.
        """
        self.engine = engine
        self.store = store
        self._notices = dict(notices or {})
        self._folds = folds
        self._moved_at = time.monotonic()  # when the checkpoint last moved (or was read)
        self._url = libpq_url(engine.url.render_as_string(hide_password=False))
        self._changed = threading.Condition()
        self._active: ProjectionInfo | None = None
        self._checkpoint = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        self._folded_elsewhere = not folds  # the last fold found another process folding
        self._stale = True  # the active projection is read again before the next fold
        self._read_at = 0.0  # when the active projection was last read
        self._connected = False  # listening now: notices reach this follower
        self._folded_at = 0.0  # when the last fold ended (FOLD_PACE)

    @property
    def active(self) -> ProjectionInfo | None:
        """The active projection as last read (None until the first fold): a turn's cache,
        refreshed on every wake-up and at once when an activation notifies."""
        return self._active

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="convlog-follower", daemon=True)
        self._thread.start()
        self._listening.wait(timeout=10)

    def run(self) -> None:
        """Follow (and fold) in this thread until `stop`: a folder process's main loop."""
        self._run()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self, info: ProjectionInfo, position: int, timeout: float) -> int | None:
        """The checkpoint of `info` once it holds `position`; ProjectionLagging past
        `timeout`; None when this follower does not follow `info` (no longer active):
        the caller waits as a process without a follower does."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if not self._connected or self._active is None or self._active.id != info.id:
                    return None  # not listening, or another projection: the caller polls
                if self._checkpoint >= position:
                    return self._checkpoint
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProjectionLagging(
                        f"projection {info.name!r} is at position {self._checkpoint}, behind "
                        f"{position}, after {timeout:g}s; the answer would be stale, so none "
                        "is given")
                self._changed.wait(remaining)

    def _run(self) -> None:
        # The encoding is loaded here, at start-up, not in the first turn's fold.
        self.store.counter.count("")
        while not self._stopping.is_set():
            try:
                self._follow()
            except Exception as error:  # a lost connection, a fold error: retry, never die
                log.warning("the follower stopped (%s); it resumes from the checkpoint", error)
                self._disconnected()
                self._stopping.wait(1.0)
        self._disconnected()

    def _disconnected(self) -> None:
        """Notices are lost from now on: waiting turns poll instead, and what the notices
        keep current (a cache of tokens) is forgotten."""
        with self._changed:
            self._connected = False
            self._changed.notify_all()
        for call in self._notices.values():
            call()

    def _follow(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            for channel in (EVENTS_CHANNEL, CHECKPOINT_CHANNEL, ACTIVATION_CHANNEL,
                            *self._notices):
                conn.execute(f"LISTEN {channel}")
            for call in self._notices.values():
                call()
            self._stale = True  # an activation may have gone unheard while not listening
            self._fold()
            with self._changed:
                self._connected = True
                self._changed.notify_all()
            self._listening.set()
            while not self._stopping.is_set():
                if self._worth_a_fold(conn):
                    if self._folds:
                        self._stopping.wait(self._folded_at + FOLD_PACE - time.monotonic())
                    self._fold()
                    self._folded_at = time.monotonic()

    def _worth_a_fold(self, conn: psycopg.Connection[tuple[object, ...]]) -> bool:
        """Wait for notices; True when one calls for a fold (or IDLE_SECONDS passed).

        Every notice waiting by then is taken at once: a burst of appends is one batch.
        A checkpoint another process moved is taken from its notice, no query and no
        fold; while another process holds the projector, appends are left to it.
        """
        notices = list(conn.notifies(timeout=IDLE_SECONDS, stop_after=1))
        if not notices:
            self._stale = True  # a lost activation notice costs at most this long
            if self._folds:
                # A quiet second: the search index catches up too (a search indexes
                # what it still lacks itself, so this only spares it the wait).
                keep_current(self.engine)
            return True
        notices += conn.notifies(timeout=0.0)
        fold = False
        for notice in notices:
            if notice.channel in self._notices:
                self._notices[notice.channel]()
            elif notice.channel == CHECKPOINT_CHANNEL:
                projection, _, checkpoint = notice.payload.partition(":")
                self._publish_moved(projection, int(checkpoint))
            elif notice.channel == ACTIVATION_CHANNEL:
                self._stale = fold = True
            elif not self._folded_elsewhere or self._stalled():
                fold = True
        return fold

    def _stalled(self) -> bool:
        """Appends arrive, and whoever folds has not moved the checkpoint for a while:
        it may be gone (its lock goes with it), so this process tries."""
        return time.monotonic() - self._moved_at > STALL_SECONDS

    def _publish_moved(self, projection: str, checkpoint: int) -> None:
        with self._changed:
            if (self._active is not None and str(self._active.id) == projection
                    and checkpoint > self._checkpoint):
                self._checkpoint = checkpoint
                self._moved_at = time.monotonic()
                self._changed.notify_all()

    def _fold(self) -> None:
        info = self._active
        if (info is None or self._stale or info.caught_up_at is None
                or time.monotonic() - self._read_at > REREAD_SECONDS):
            with self.engine.connect() as conn:
                info = get(conn, None)
            self._stale = False
            self._read_at = time.monotonic()
        if self._folds or self._stalled():
            result = Projector(self.engine, self.store, info.name).catch_up(info=info)
            skipped, folded_to = result.skipped, result.checkpoint
        else:  # a server process beside a folder: read where the folder is, fold nothing
            skipped, folded_to = True, 0
        self._folded_elsewhere = skipped or not self._folds
        self._moved_at = time.monotonic()
        checkpoint = folded_to if not skipped else checkpoint_of(self.engine, info.id)
        with self._changed:
            if self._active is None or self._active.id != info.id:
                self._checkpoint = 0
            self._active = info
            self._checkpoint = max(self._checkpoint, checkpoint)
            self._changed.notify_all()
