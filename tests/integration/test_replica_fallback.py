"""A standby that went away costs the analysts' reads their offload, not their answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine

from eventlog import replica
from eventlog.replica import Reads, standby_engine


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_stale_reads_go_to_the_primary_while_the_standby_does_not_answer(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    # Given a read URL whose server does not answer (nothing listens on its port)
    gone = standby_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    reads = Reads(engine, gone)
    try:
        # When a read that needs no position asks where to go, twice
        first, second = reads.stale_ok(), reads.stale_ok()
        # Then the primary serves both, and the operator is told once
        assert first is engine and second is engine
        assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1
    finally:
        gone.dispose()


def test_stale_reads_go_to_a_standby_that_answers(engine: Engine) -> None:
    # Given a read URL whose server answers (here the same server: what is checked is
    # that stale reads are sent there, not what it holds)
    standby = create_engine(engine.url)
    reads = Reads(engine, standby)
    try:
        # When a read that needs no position asks where to go
        # Then it goes to the standby
        assert reads.stale_ok() is standby
    finally:
        standby.dispose()


def test_reads_at_a_position_go_to_the_primary_while_the_standby_does_not_answer(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    # Given a read URL whose server does not answer
    gone = standby_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    reads = Reads(engine, gone, timeout=30)
    try:
        # When three reads that must see the newest commit ask where to go
        sources = [reads.current() for _ in range(3)]
        # Then the primary serves them at once (not after the 30 s bound), each counted,
        # and that the standby does not answer is said once
        assert sources == [engine] * 3 and reads.fallbacks == 3
        assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1
    finally:
        gone.dispose()


def _looking() -> bool:
    return any(t.name == "convlog-standby-look" for t in threading.enumerate())


class _Switch:
    """Connections to the test's server until `off()`; then refused, as a standby's that
    went away are (works over TCP and over the embedded server's Unix socket)."""

    def __init__(self, engine: Engine) -> None:
        self.cargs, self.cparams = engine.dialect.create_connect_args(engine.url)
        self.dialect = engine.dialect
        self.on = True
        self.hanging = False
        self.released = threading.Event()

    def connect(self) -> Any:
        if self.hanging:  # as a connection to a host that stopped answering does
            self.released.wait(120)
        if not self.on or self.hanging:
            raise psycopg.OperationalError("connection refused (the test switched it off)")
        return self.dialect.connect(*self.cargs, **self.cparams)

    def hang(self) -> None:
        self.hanging = True

    def off(self) -> None:
        self.on = False


@contextmanager
def _seen_then_gone(engine: Engine) -> Iterator[tuple[Reads, Engine]]:
    """Reads with a standby (here the same server) that the first read saw answer, and
    that then went away."""
    switch = _Switch(engine)
    standby = create_engine(engine.url, creator=switch.connect)
    try:
        reads = Reads(engine, standby)
        assert reads.stale_ok() is standby
        switch.off()
        standby.dispose()
        yield reads, standby
    finally:
        standby.dispose()


def test_a_standby_that_goes_away_is_found_out_in_the_background(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    # Given a standby the first read saw answer, which went away
    with _seen_then_gone(engine) as (reads, standby):
        # When a read comes as the next look falls due
        time.sleep(replica._UP_FOR)
        # Then that read is not held up by the look: it goes by the last one
        assert reads.stale_ok() is standby
        # And the look, made in the background, finds it gone: the primary serves the
        # reads after it, and the operator is told once
        deadline = time.monotonic() + 30
        while _looking() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reads.stale_ok() is engine
        assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1


def test_after_a_quiet_spell_the_read_itself_looks_at_the_standby(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a standby the first read saw answer, which went away, and no read for
    # longer than a look is trusted
    monkeypatch.setattr(replica, "_UP_FOR", 0.1)
    with _seen_then_gone(engine) as (reads, _):
        time.sleep(3 * replica._UP_FOR)
        # When a read comes, then it does not trust the old look: the primary serves it
        assert reads.stale_ok() is engine


def test_a_look_that_hangs_counts_as_no_answer_and_holds_up_no_later_look(
        engine: Engine, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a standby the first read saw answer, whose connections then hang
    monkeypatch.setattr(replica, "_LOOK_BOUND", 0.2)
    monkeypatch.setattr(replica, "_DOWN_FOR", 0.3)
    switch = _Switch(engine)
    standby = create_engine(engine.url, creator=switch.connect)
    reads = Reads(engine, standby)
    try:
        assert reads.stale_ok() is standby
        switch.hang()
        standby.dispose()
        # When the next look, made in the background, hangs past the bound
        time.sleep(replica._UP_FOR)
        assert reads.stale_ok() is standby  # goes by the last look, a second old
        time.sleep(3 * replica._LOOK_BOUND)
        # Then the reads after it go to the primary, and the operator is told once
        assert reads.stale_ok() is engine
        assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1
        # And when the standby answers again, a later look finds it while the hung one
        # is still stuck, and the hung one, ending at last, records nothing
        switch.hanging = False
        deadline = time.monotonic() + 10  # well within the hung look's own 120 s
        while reads.stale_ok() is not standby and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reads.stale_ok() is standby
        switch.released.set()
        while _looking() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reads.stale_ok() is standby
        assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1
    finally:
        switch.released.set()
        standby.dispose()


def test_a_look_under_way_does_not_undo_a_read_finding_the_standby_gone(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    # Given a standby the first read saw answer, and a look at it under way in the
    # background, held up in connecting, which will reach it
    held, released = threading.Event(), threading.Event()
    cargs, cparams = engine.dialect.create_connect_args(engine.url)

    def connect() -> Any:  # the look's connection waits; the test's own are refused
        if held.is_set():
            if threading.current_thread() is threading.main_thread():
                raise psycopg.OperationalError("connection refused (the test refused it)")
            released.wait(30)
        return engine.dialect.connect(*cargs, **cparams)

    standby = create_engine(engine.url, creator=connect)
    reads = Reads(engine, standby, timeout=30)
    try:
        assert reads.stale_ok() is standby
        standby.dispose()
        held.set()
        time.sleep(replica._UP_FOR)
        assert reads.stale_ok() is standby  # the look starts, in the background
        deadline = time.monotonic() + 10
        while not _looking() and time.monotonic() < deadline:
            time.sleep(0.01)
        # When a read at a position cannot reach the standby
        assert reads.seeing(0) is engine
        # and the look, begun before, then ends having reached it
        released.set()
        while _looking() and time.monotonic() < deadline:
            time.sleep(0.01)
        # Then the standby is still taken for down: the primary serves the next reads,
        # and the operator is not told it answers again
        assert reads.stale_ok() is engine
        assert not any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        released.set()
        standby.dispose()
