"""Reads from a hot standby (CONVLOG_READ_DATABASE_URL), and from the primary where they must.

A PostgreSQL streaming replica replays the primary's WAL a few milliseconds behind it.
Reads that need not see the newest writes (session lists, exports, simulate, a context
read without read-your-writes) take `Reads.stale_ok()`: the standby, so that analysts'
heavy reads do not compete with the gateways' appends on the primary. A read that must
see every commit made before it takes `Reads.current()`: the primary's WAL flush
position is read (at or past the end of every commit made so far: with
synchronous_commit on, PostgreSQL's default, a commit is visible only once flushed;
with it off, the insert position is read instead), and the standby serves the read
once `pg_last_wal_replay_lsn()` has reached it. Past
CONVLOG_READ_REPLICA_TIMEOUT seconds, or when the standby cannot tell (unreachable, or
not in recovery any more), the primary serves it: the answer is never older than the
position asked for, only slower to come.

Writes never go to the standby (it refuses them), and neither do reads that may write
(a context in another encoding counts what is missing). Without a read URL every read
goes to the primary and nothing here costs a round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from eventlog.database import sqlalchemy_url
from eventlog.errors import ConfigurationError, DatabaseError
from eventlog.settings import DEFAULT_REPLICA_TIMEOUT, Settings

log = logging.getLogger("convlog.replica")

READ_SETTING = "CONVLOG_READ_DATABASE_URL"
_FIRST_PAUSE = 0.0005
_LONGEST_PAUSE = 0.02
_WARN_EVERY = 60.0  # seconds between two warnings about reads the primary took over
# How long a stale read trusts the last look at the standby: a standby seen up is looked
# at again after a second, one seen down after five (meanwhile the primary serves).
# Looks due for less than a second more run in the background (`Reads._standby_answers`).
_UP_FOR, _DOWN_FOR = 1.0, 5.0
_PING = text("SELECT 1")
_CONNECT_TIMEOUT = 2  # seconds
# A look running longer than this is taken for a standby that does not answer (a
# half-open connection can hold a ping for as long as TCP takes to give up).
_LOOK_BOUND = _CONNECT_TIMEOUT + 1.0
# WAL positions as byte offsets (numeric), which every supported PostgreSQL compares.
# The flush position, not the insert one: reads on the primary insert WAL too (pruning,
# hint bits under checksums) that no commit follows and that may wait to be flushed,
# so sent, until the next commit; only asynchronous commits are visible before flushed.
# (The WAL writer may leave the flush position at a page boundary inside such a record;
# a standby reaches it at the next commit, and a read waiting for it until then is
# served by the primary after the bound.)
# Whether commits are asynchronous is asked of this session and of every role's and
# database's own setting (a worker's login may be tuned that way), not only of the reader.
_WRITTEN = text(
    "SELECT CASE WHEN current_setting('synchronous_commit') = 'off' OR EXISTS ("
    "  SELECT 1 FROM pg_db_role_setting s, unnest(s.setconfig) c "
    "   WHERE lower(replace(c, ' ', '')) = 'synchronous_commit=off') "
    "THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn, "
    "current_setting('wal_block_size')::bigint, "
    "pg_size_bytes(current_setting('wal_segment_size'))")
# NULL when the server is not in recovery (a primary, or a promoted standby): it cannot
# say what it replayed, so the read goes to the primary.
_REPLAYED = text("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn >= :lsn")
# An insert position at the start of a WAL page points past the page's header, where no
# record ends: the header's size is taken off, else a standby that replayed every
# record would look behind until the next write (PostgreSQL's SizeOfXLogShortPHD and
# SizeOfXLogLongPHD, the latter at a segment's first page). A flush position never
# lies there.
_PAGE_HEADER, _SEGMENT_HEADER = 24, 40
# The position queries run outside a transaction: one round trip each, no BEGIN and
# ROLLBACK around them, and no snapshot held while waiting.
_ONE_STATEMENT = "AUTOCOMMIT"
_IDENTITY = text("SELECT (SELECT system_identifier FROM pg_control_system()), "
                 "current_database(), pg_is_in_recovery()")


def wal_position(primary: Engine) -> int:
    """A position in the primary's WAL (a byte offset) at or past the end of every commit
    visible now, which a standby reaches by replaying."""
    with primary.connect().execution_options(isolation_level=_ONE_STATEMENT) as conn:
        position, page, segment = conn.execute(_WRITTEN).one()
    return record_end(int(position), int(page), int(segment))


def record_end(position: int, page: int, segment: int) -> int:
    """`position` where a record can end: a page's first byte past its header is taken
    back to the page's start, which is where the record before it ended."""
    if position % segment == _SEGMENT_HEADER:
        return position - _SEGMENT_HEADER
    if position % page == _PAGE_HEADER:
        return position - _PAGE_HEADER
    return position


def lsn_text(position: int) -> str:
    """A byte offset as PostgreSQL shows an LSN."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def replayed(standby: Engine, lsn: int, timeout: float) -> bool | None:
    """Whether `standby` has replayed the WAL up to `lsn`, polled for up to `timeout` s.

    False at once when the server is not in recovery; None when it cannot be reached.
    """
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    try:
        with standby.connect().execution_options(isolation_level=_ONE_STATEMENT) as conn:
            while True:
                done = conn.execute(_REPLAYED, {"lsn": lsn}).scalar()
                if done or done is None:
                    return bool(done)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _LONGEST_PAUSE)
    except DBAPIError:
        return None


class Reads:
    """Where a read goes: `stale_ok()` for one that needs no position, `current()` (or
    `seeing(lsn)`) for one that must see every commit made before it."""

    def __init__(self, primary: Engine, standby: Engine | None = None, *,
                 timeout: float = DEFAULT_REPLICA_TIMEOUT) -> None:
        self.primary = primary
        self.standby = standby
        self.timeout = timeout
        self.fallbacks = 0  # reads the primary took over, for the operator and the tests
        self._lock = threading.Lock()
        self._warned_at: float | None = None
        self._standby_up = True
        self._look_again_at = 0.0  # monotonic time after which the standby is looked at
        self._looked_at: float | None = None  # when the last look ended
        self._looking_since: float | None = None  # when the look under way began
        self._look_number = 0  # a look given up (hung, or outrun by a read that
        # found the standby gone) records nothing when it ends

    def stale_ok(self) -> Engine:
        """The standby when there is one and it answers (it may be a little behind the
        primary); the primary while it does not, so a standby that went away costs the
        analysts' reads their offload, not their answers."""
        if self.standby is None or not self._standby_answers():
            return self.primary
        return self.standby

    def current(self) -> Engine:
        """An engine whose reads see every commit made before this call."""
        if self.standby is None:
            return self.primary
        return self.seeing(wal_position(self.primary))

    def seeing(self, lsn: int) -> Engine:
        """The standby once it has replayed `lsn` (a primary's WAL position), else, after
        the timeout, the primary."""
        if self.standby is None:
            return self.primary
        if not self._standby_answers():  # known down: no connect attempt per read
            self._fell_back(lsn)
            return self.primary
        done = replayed(self.standby, lsn, self.timeout)
        if done:
            return self.standby
        if done is None:
            self._went_away()
        self._fell_back(lsn)
        return self.primary

    def close(self) -> None:
        if self.standby is not None:
            self.standby.dispose()

    def _standby_answers(self) -> bool:
        """Whether the standby answered when last looked at.

        Under a steady stream of reads, a look that falls due runs in the background and
        the reads go by the last one: made by a read, it cost that read a round trip
        every second, and while the standby was down, a connection attempt of up to two
        seconds every five. The first look, and one due for more than a second (reads
        were sparse), is made by the read that asks; reads that come meanwhile go to the
        primary rather than trust an old look. A look running past `_LOOK_BOUND` counts
        as no answer, and the next one does not wait for it.
        """
        assert self.standby is not None
        with self._lock:
            now = time.monotonic()
            if self._looking_since is not None:  # a look is under way
                if now - self._looking_since <= _LOOK_BOUND:
                    trusted = (self._looked_at is not None
                               and now - self._looked_at <= 2 * _UP_FOR + _LOOK_BOUND)
                    return self._standby_up and trusted
                was_up = self._down(now)  # it hangs: give it up
                hung = True
            elif now < self._look_again_at:
                return self._standby_up
            else:
                hung = False
                self._looking_since = now
                self._look_number += 1
                number = self._look_number
                in_background = (self._looked_at is not None
                                 and now - self._look_again_at < _UP_FOR)
                up = self._standby_up
        if hung:
            if was_up:
                _say_down(None)
            return False
        if not in_background:
            return self._look(number)
        try:
            threading.Thread(target=self._look, args=(number,), name="convlog-standby-look",
                             daemon=True).start()
        except RuntimeError:  # no thread to be had: this read looks itself
            return self._look(number)
        return up

    def _look(self, number: int) -> bool:
        """Ping the standby and record whether it answered, unless the look was given up."""
        assert self.standby is not None
        error: Exception | None = None
        try:
            with self.standby.connect().execution_options(
                    isolation_level=_ONE_STATEMENT) as conn:
                conn.execute(_PING)
        except Exception as caught:  # noqa: BLE001 - in a thread: any failure is "down"
            error = caught
        with self._lock:
            if number != self._look_number:
                return False  # given up meanwhile (see `_down`)
            now = time.monotonic()
            self._looking_since = None
            self._looked_at = now
            if error is not None:
                was_up = self._down(now)
            else:
                came_back = not self._standby_up
                self._standby_up = True
                self._look_again_at = now + _UP_FOR
        if error is not None:
            if was_up:
                _say_down(error)
            return False
        if came_back:
            log.warning("the standby answers again; reads go to it")
        return True

    def _down(self, now: float) -> bool:
        """Record the standby as not answering (the lock held); whether it was up.

        A look under way is given up, so that its answer, begun before this was known,
        cannot undo it: a standby wrongly taken for down costs the reads their offload
        for a few seconds, one wrongly taken for up costs them their answers."""
        self._look_number += 1
        self._looking_since = None
        was_up, self._standby_up = self._standby_up, False
        self._look_again_at = now + _DOWN_FOR
        return was_up

    def _went_away(self, error: Exception | None = None) -> None:
        """The standby did not answer: the primary serves every read for the next five
        seconds; said once, until it answers again."""
        with self._lock:
            was_up = self._down(time.monotonic())
        if was_up:
            _say_down(error)

    def _fell_back(self, lsn: int) -> None:
        with self._lock:
            self.fallbacks += 1
            now = time.monotonic()
            if self._warned_at is not None and now - self._warned_at < _WARN_EVERY:
                return
            self._warned_at = now
            count = self.fallbacks
        log.warning("the standby had not replayed %s within %gs, so the primary served the "
                    "read (%d such reads so far in this process); see "
                    "pg_stat_replication on the primary", lsn_text(lsn), self.timeout, count)


def _say_down(error: Exception | None) -> None:
    cause = getattr(error, "orig", None) or error
    why = f" ({error.__class__.__name__}: {str(cause).strip()})" if error is not None else ""
    log.warning("the standby does not answer%s; the primary serves every read until it does",
                why)


def standby_url(settings: Settings) -> str | None:
    """CONVLOG_READ_DATABASE_URL spelled for SQLAlchemy, or None when it is unset."""
    if not settings.read_database_url:
        return None
    return sqlalchemy_url(settings.read_database_url, READ_SETTING)


def check_standby(primary: Engine, standby: Engine) -> None:
    """Refuse a read URL that is not a standby of the primary's cluster and database (a
    physical replica has the primary's system identifier); DatabaseError when it cannot
    be reached."""
    try:
        with standby.connect() as conn:
            theirs = conn.execute(_IDENTITY).one()
    except DBAPIError as error:
        shown = make_url(standby.url).render_as_string(hide_password=True)
        raise DatabaseError(
            f"cannot connect to the standby {shown}: {error.__class__.__name__}: "
            f"{str(error.orig).strip()}; check {READ_SETTING}, or unset it to read from the "
            "primary") from None
    with primary.connect() as conn:
        ours = conn.execute(_IDENTITY).one()
    if tuple(theirs[:2]) != tuple(ours[:2]):
        raise ConfigurationError(
            f"{READ_SETTING} reaches database {theirs[1]!r} of the cluster {theirs[0]}, which "
            f"is not a replica of CONVLOG_DATABASE_URL (database {ours[1]!r} of the cluster "
            f"{ours[0]}); point it at a hot standby of the same database, or unset it",
            code="NOT_A_REPLICA")
    if not theirs[2]:
        log.warning("%s is not in recovery (a promoted standby?): reads that must see a "
                    "position go to the primary", READ_SETTING)


def standby_engine(url: str, **pool: Any) -> Engine:
    """An engine for the standby whose connection attempts give up after two seconds
    (libpq's least), so a standby host that vanished costs a read that long, once,
    before the primary serves reads; not the system's TCP timeout of minutes."""
    connect_args = {"connect_timeout": _CONNECT_TIMEOUT, **pool.pop("connect_args", {})}
    return create_engine(url, connect_args=connect_args, **pool)


@cache
def _standby_engine(url: str) -> Engine:
    return standby_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def reads_for(settings: Settings, primary: Engine) -> Reads:
    """The command line's reads: through the standby when CONVLOG_READ_DATABASE_URL is
    set (checked once: reachable, and a replica of the primary), else the primary."""
    url = standby_url(settings)
    if url is None:
        return Reads(primary)
    standby = _standby_engine(url)
    check_standby(primary, standby)
    return Reads(primary, standby, timeout=settings.read_replica_timeout)
