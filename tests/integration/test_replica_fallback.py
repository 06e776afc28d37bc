"""A standby that went away costs the analysts' reads their offload, not their answers."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import Engine, create_engine

from eventlog import replica
from eventlog.replica import Reads, standby_engine
from tests.fixtures.hosts import Relay


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


def test_a_standby_that_goes_away_is_found_out_in_the_background(
        engine: Engine, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a standby reached through a relay (here the same server), seen to answer by
    # the first read, and looked at again whenever a read comes after a look
    monkeypatch.setattr(replica, "_UP_FOR", 0.0)
    host, port = engine.url.host or "127.0.0.1", engine.url.port or 5432
    relay = Relay("127.0.0.1", (host, port))
    url = engine.url.set(host="127.0.0.1", port=int(relay.address.rsplit(":", 1)[1]))
    standby = standby_engine(url.render_as_string(hide_password=False))
    reads = Reads(engine, standby)
    try:
        assert reads.stale_ok() is standby
        # When the standby goes away (nothing listens on its address any more)
        relay.close()
        standby.dispose()
        # Then the next read is not held up by a look at it: it goes by the last look,
        # which a read made on the request path before
        assert reads.stale_ok() is standby
        # And the look made meanwhile finds it gone: the primary serves the reads after
        # it, and the operator is told once
        deadline = time.monotonic() + 30
        while reads.stale_ok() is standby and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reads.stale_ok() is engine
        assert sum("does not answer" in r.getMessage() for r in caplog.records) == 1
    finally:
        relay.close()
        standby.dispose()
