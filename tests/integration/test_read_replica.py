"""Reads from a hot standby (CONVLOG_READ_DATABASE_URL) on a real streaming replica.

A primary of the test's own and a `pg_basebackup -R` standby of it on another port
(tests/fixtures/streaming_replica.py). Holding the standby's replay back
(`pg_wal_replay_pause()`) makes it visibly behind: a read it serves misses what the
primary committed since, so which server answered shows in the answer itself.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from eventlog.database import create_database, scratch_database, sqlalchemy_url, with_database
from eventlog.replica import Reads
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.context import ContextAssembler
from projections.projector import Projector
from projections.registry import ensure_default, get
from projections.sessions import find_session
from tests.fixtures.builders import event_dict, make_event
from tests.fixtures.http import start_server
from tests.fixtures.streaming_replica import (
    BinariesMissing,
    StreamingPair,
    find_binaries,
    free_port,
    placed_apart,
    streaming_pair,
)
from workers.cli.main import main
from workers.migrate import upgrade

pytestmark = pytest.mark.slow
TEMPLATE = "convlog_replica_template"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHAT = "replicated-chat"


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    """One primary and standby for the module, with a migrated template database."""
    try:
        find_binaries()
    except BinariesMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL's server binaries: {missing}")
        pytest.skip(str(missing))
    with streaming_pair() as started:
        engine = create_engine(create_database(started.primary_url(), TEMPLATE))
        upgrade(engine)
        with engine.begin() as conn:
            ensure_default(conn)
        engine.dispose()
        yield started


@dataclass
class Replicated:
    """One test's database on the primary and the same database on the standby."""

    pair: StreamingPair
    primary_url: str
    standby_url: str
    primary: Engine
    standby: Engine
    store: EventStore

    def append_and_project(self, *texts: str) -> int:
        """Messages in CHAT, appended and folded on the primary; the last position."""
        result = self.store.append([make_event(chat=CHAT, text=t) for t in texts])
        Projector(self.primary, self.store).catch_up()
        assert result.last_position is not None
        return result.last_position

    def contents(self, engine: Engine) -> list[str]:
        """The context of CHAT's session as `engine`'s server has it."""
        with engine.connect() as conn:
            info = get(conn)
            session = find_session(conn, info.id, self.session_id())
            context = ContextAssembler(self.store.counter).assemble(
                conn, info.id, session, budget=100_000)
        return [str(m["content"]) for m in context.messages]

    def session_id(self) -> str:
        with self.primary.connect() as conn:
            return str(conn.execute(text(
                "SELECT session_id FROM sessions WHERE :c = ANY(chats)"),
                {"c": CHAT}).scalar_one())


@pytest.fixture
def replicated(pair: StreamingPair) -> Iterator[Replicated]:
    with scratch_database(pair.primary_url(), "convlog_r", template=TEMPLATE) as url:
        pair.wait_replayed()  # the new database is on the standby too
        name = str(make_url(url).database)
        standby_url = sqlalchemy_url(with_database(pair.standby_url(), name))
        primary, standby = create_engine(url), create_engine(standby_url)
        try:
            yield Replicated(pair, url, standby_url, primary, standby,
                             EventStore(primary, TokenCounter()))
        finally:
            pair.resume_replay()  # a test that failed while replay was held back
            primary.dispose()
            standby.dispose()


def held_back(r: Replicated, *texts: str) -> int:
    """The first message replicated, then replay paused and `texts` written on the primary."""
    r.append_and_project("replicated before")
    r.pair.wait_replayed()
    r.pair.pause_replay()
    return r.append_and_project(*texts) if texts else 0


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def api_services(server: Any) -> Any:
    return server.server.config.app.state.services


def test_reads_that_need_no_position_are_served_by_the_standby(
        replicated: Replicated, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    r = replicated
    # Given CONVLOG_READ_DATABASE_URL naming the standby
    reads = Reads(r.primary, r.standby, timeout=30)
    with reads.stale_ok().connect() as conn:
        served = conn.execute(text("SELECT pg_is_in_recovery(), inet_server_port()")).one()
    assert tuple(served) == (True, r.pair.standby_port)
    # When a message reaches the primary while the standby's replay is held back
    held_back(r, "written while replay was held back")
    monkeypatch.setenv("CONVLOG_DATABASE_URL", r.primary_url)
    monkeypatch.setenv("CONVLOG_READ_DATABASE_URL", r.standby_url)
    session = r.session_id()
    # Then the CLI's lists and contexts, and the API's, come from the standby: without it
    listed = cli_json(capsys, "sessions")
    assert [row["messages"] for row in listed] == [1]
    context = cli_json(capsys, "context", session)
    assert [m["content"] for m in context["messages"]] == ["replicated before"]
    server = start_server(r.primary_url, r.primary, read_database_url=r.standby_url)
    try:
        client = server.client(server.token("reader"))
        assert [m["content"] for m in client.context(session)["messages"]] == [
            "replicated before"]
        assert client.session(session)["messages"] == 1
        assert [s["messages"] for s in client.sessions()["sessions"]] == [1]
    finally:
        server.stop()
    # and without the setting the same commands read the primary, which has it
    monkeypatch.delenv("CONVLOG_READ_DATABASE_URL")
    assert [row["messages"] for row in cli_json(capsys, "sessions")] == [2]


def test_a_read_at_a_position_waits_for_the_standby_to_replay_it(
        replicated: Replicated) -> None:
    r = replicated
    reads = Reads(r.primary, r.standby, timeout=30)
    # Given an append the standby has not replayed (replay held back)
    held_back(r, "waited for")
    assert r.contents(r.standby) == ["replicated before"]
    # When a read that must see it asks, and replay resumes half a second later
    resume = threading.Timer(0.5, r.pair.resume_replay)
    resume.start()
    started = time.monotonic()
    source = reads.current()
    waited = time.monotonic() - started
    resume.join()
    # Then the standby serves it, once it has replayed the append, and it sees the append
    assert source is r.standby and reads.fallbacks == 0
    assert 0.4 < waited < 30
    assert r.contents(source) == ["replicated before", "waited for"]


def test_the_api_context_after_an_append_waits_for_replay(replicated: Replicated) -> None:
    r = replicated
    # Given the HTTP API reading from the standby, with a long bound on waiting for it
    held_back(r)
    server = start_server(r.primary_url, r.primary, read_database_url=r.standby_url,
                          read_replica_timeout=30)
    try:
        client = server.client(server.token("gateway"))
        # When a gateway appends while replay is held back and asks for the context after it
        event = event_dict(chat=CHAT, text="read your writes")
        appended = client.append([event])
        session = client.resolve(event)["session_id"]
        resume = threading.Timer(0.5, r.pair.resume_replay)
        resume.start()
        started = time.monotonic()
        context = client.context(session, after=appended["last_position"])
        waited = time.monotonic() - started
        resume.join()
        # Then the answer has the append, from the standby after replay (a fallback to the
        # primary would have taken the 30 s bound)
        assert [m["content"] for m in context["messages"]] == ["replicated before",
                                                              "read your writes"]
        assert 0.4 < waited < 30
        assert api_services(server).reads.fallbacks == 0
    finally:
        server.stop()


def test_a_read_at_a_position_falls_back_to_the_primary_after_the_bound(
        replicated: Replicated, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    r = replicated
    bound = 0.3
    reads = Reads(r.primary, r.standby, timeout=bound)
    # Given an append the standby will not replay (replay stays held back)
    position = held_back(r, "fell back")
    # When a read that must see it asks
    started = time.monotonic()
    source = reads.current()
    waited = time.monotonic() - started
    # Then after the bound the primary serves it, and the answer has the append
    assert source is r.primary and reads.fallbacks == 1
    assert waited >= bound
    assert r.contents(source) == ["replicated before", "fell back"]
    assert r.contents(r.standby) == ["replicated before"]  # still held back
    # And the API's context after the append answers correctly from the primary, while
    # one without a position is the standby's
    server = start_server(r.primary_url, r.primary, read_database_url=r.standby_url,
                          read_replica_timeout=bound)
    try:
        client = server.client(server.token("gateway"))
        session = r.session_id()
        fresh = client.context(session, after=position)
        assert [m["content"] for m in fresh["messages"]] == ["replicated before", "fell back"]
        assert fresh["checkpoint"] >= position
        assert api_services(server).reads.fallbacks == 1
        stale = client.context(session)
        assert [m["content"] for m in stale["messages"]] == ["replicated before"]
        # and a search (which must see everything appended before it) finds the append
        hits = client.request("GET", "/v1/search", params={"q": "fell"})["hits"]
        assert [hit["position"] for hit in hits] == [position]
    finally:
        server.stop()
    # And so does the CLI's search, with the bound set in the environment
    monkeypatch.setenv("CONVLOG_DATABASE_URL", r.primary_url)
    monkeypatch.setenv("CONVLOG_READ_DATABASE_URL", r.standby_url)
    monkeypatch.setenv("CONVLOG_READ_REPLICA_TIMEOUT", str(bound))
    found = cli_json(capsys, "search", "fell")
    assert [hit["position"] for hit in found["hits"]] == [position]


def test_the_analysts_verbs_answer_from_the_standby_as_from_the_primary(
        replicated: Replicated, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a log with a few sessions, and the verbs' answers from the primary alone
    r = replicated
    r.store.append([make_event(chat=f"chat-{n}", sender=f"u{n % 2}", text=f"hello {n}")
                    for n in range(6)])
    Projector(r.primary, r.store).catch_up()
    monkeypatch.setenv("CONVLOG_DATABASE_URL", r.primary_url)
    policy = str(EXAMPLES / "guild-wide.json")

    def answers(name: str) -> tuple[Any, Any, str]:
        simulated = cli_json(capsys, "simulate", "--policy", policy)
        found = cli_json(capsys, "search", "hello")
        out = tmp_path / f"{name}.jsonl"
        capsys.readouterr()
        assert main(["export", "--format", "jsonl", "-o", str(out)]) == 0
        return simulated, found, out.read_text()

    expected = answers("primary")
    # When they read through the standby (replay running, and a bound long enough that
    # the reads which wait for it are not taken over by the primary)
    monkeypatch.setenv("CONVLOG_READ_DATABASE_URL", r.standby_url)
    monkeypatch.setenv("CONVLOG_READ_REPLICA_TIMEOUT", "30")
    # Then each answers, read-only as the standby is, with what the primary gave
    assert answers("standby") == expected
    assert len(expected[1]["hits"]) == 6


@pytest.mark.parametrize("standby", ["promoted", "unreachable"])
def test_a_standby_that_cannot_say_what_it_replayed_is_not_waited_for(
        replicated: Replicated, standby: str) -> None:
    # A read URL that reaches a primary (a promoted standby), or nothing at all: a read
    # at a position goes to the primary at once, not after the bound
    url = (replicated.primary_url if standby == "promoted"
           else sqlalchemy_url(f"postgresql://postgres@127.0.0.1:{free_port()}/x"))
    other = create_engine(url)
    try:
        reads = Reads(replicated.primary, other, timeout=30)
        started = time.monotonic()
        assert reads.current() is replicated.primary
        assert time.monotonic() - started < 10 and reads.fallbacks == 1
    finally:
        other.dispose()


def test_a_read_url_that_is_no_replica_of_the_database_is_refused(
        replicated: Replicated, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a read URL naming another database of the standby
    monkeypatch.setenv("CONVLOG_DATABASE_URL", replicated.primary_url)
    monkeypatch.setenv("CONVLOG_READ_DATABASE_URL",
                       with_database(replicated.standby_url, TEMPLATE))
    # Then a read is refused with a clear line, not answered from the wrong database
    capsys.readouterr()
    assert main(["sessions"]) == 2
    assert "[NOT_A_REPLICA]" in capsys.readouterr().err


def _affinities(pids: Iterable[int]) -> dict[int, set[int]]:
    """Each process's CPUs, for those still running."""
    found = {}
    for pid in pids:
        with suppress(ProcessLookupError):
            found[pid] = os.sched_getaffinity(pid)
    return found


def test_the_pair_names_every_process_of_both_servers(replicated: Replicated) -> None:
    # (the bench pins these to CPUs of their own: one missed would be placed by chance)
    r = replicated
    with r.primary.connect() as primary, r.standby.connect() as standby:
        # every process each server reports: backends, walsender, walreceiver, startup,
        # checkpointer and the rest
        listed = {pid for conn in (primary, standby) for pid in conn.execute(
            text("SELECT pid FROM pg_stat_activity")).scalars()}
        processes = set(r.pair.processes())
    still_running = {pid for pid in listed if Path(f"/proc/{pid}").exists()}
    assert len(still_running) > 6
    assert still_running <= processes
    # and the postmasters named are the ones that started those processes
    parents = set()
    for pid in still_running:
        with suppress(OSError):
            parents.add(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
    assert parents == set(r.pair.postmasters()) <= processes
    assert os.getpid() not in processes


def test_placed_apart_pins_the_pair_away_from_the_client_until_the_block_ends(
        replicated: Replicated) -> None:
    r = replicated
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("one CPU here: nothing to place apart")
    servers_before = _affinities(r.pair.processes())
    client, servers = {min(before)}, before - {min(before)}
    with placed_apart(r.pair) as said:
        if said.startswith("not pinned") and not os.environ.get("CI"):
            pytest.skip(f"CPU affinity cannot be set here ({said})")
        assert said.startswith("the client pinned"), said
        assert os.sched_getaffinity(0) == client
        # a backend started meanwhile inherits its postmaster's
        with psycopg.connect(r.pair.standby_url(), autocommit=True) as late:
            backend = late.execute("SELECT pg_backend_pid()").fetchone()
            assert backend is not None
            assert os.sched_getaffinity(backend[0]) == servers
            pinned = _affinities(r.pair.processes())
            assert pinned == dict.fromkeys(pinned, servers)
    assert os.sched_getaffinity(0) == before
    after = _affinities(r.pair.processes())
    assert after == {pid: servers_before.get(pid, before) for pid in after}
