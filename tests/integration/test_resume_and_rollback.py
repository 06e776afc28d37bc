"""Resuming a killed parallel build the documented way; rollback and drop that say what they do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from eventlog.events import Event
from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.parallel import plan_slices
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get, lock_holders, projector_lock_key
from projections.rescoping import activate_when_caught_up, rollback_when_caught_up
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection, snapshot
from workers.cli.main import main
from workers.tools.workload import generate

GUILD = {"spaces": {"discord:1234567890": {"session_scope": "guild"}}}


def slices(engine: Engine, name: str) -> list[tuple[int, int, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT slice, checkpoint, upto FROM projection_slices WHERE projection_id = :p "
            "ORDER BY slice"), {"p": get(conn, name).id})]


def interrupted_parallel_build(engine: Engine, store: EventStore, name: str) -> None:
    """The state a `--workers 3` build leaves when its processes are killed at different
    points: one slice part-way, one finished, one never started, nothing merged."""
    new_projection(engine, name, Policy.model_validate(GUILD))
    with engine.begin() as conn:
        planned = plan_slices(conn, store, name, 3)
    Projector(engine, store, name, batch_size=100,
              partition=planned[0].partition).catch_up(max_batches=2)
    Projector(engine, store, name, batch_size=100, partition=planned[1].partition).catch_up()


def assert_equals_a_single_rebuild(engine: Engine, store: EventStore, name: str) -> None:
    new_projection(engine, "single", Policy.model_validate(GUILD))
    Projector(engine, store, "single").catch_up()
    with engine.connect() as conn:
        assert get(conn, name).checkpoint == store.horizon(conn)
    assert slices(engine, name) == []
    assert snapshot(engine, name) == snapshot(engine, "single")


@pytest.fixture
def log(store: EventStore) -> EventStore:
    store.append([Event.model_validate(e) for e in generate(2_000, seed=5)])
    return store


@pytest.mark.parametrize("command", [["projection", "create", "guild"],
                                     ["catch-up", "--projection", "guild"]])
def test_a_killed_parallel_build_resumes_the_documented_way(
        command: list[str], log: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a parallel build whose processes were killed with kill -9
    interrupted_parallel_build(engine, log, "guild")
    assert slices(engine, "guild")[0][1] < slices(engine, "guild")[0][2]
    capsys.readouterr()
    # When the operator runs `projection create NAME` or `catch-up --projection NAME`
    status = main(command)
    # Then the build is finished and merged, not "at 0" nor "busy in another process"
    out = capsys.readouterr().out
    assert status == 0
    assert "busy" not in out and " at 0 " not in out
    assert_equals_a_single_rebuild(engine, log, "guild")


def test_a_killed_parallel_build_resumes_with_another_number_of_workers(
        log: EventStore, engine: Engine, cli_env: str) -> None:
    # Given a 3-slice build killed midway
    interrupted_parallel_build(engine, log, "guild")
    # When it is resumed with 2 worker processes
    assert main(["projection", "create", "guild", "--workers", "2"]) == 0
    # Then its 3 slices are finished and merged
    assert_equals_a_single_rebuild(engine, log, "guild")


def test_while_a_slice_process_lives_catch_up_names_it_and_leaves_it_alone(
        log: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given an unmerged build and a slice process alive (it holds the lock shared)
    interrupted_parallel_build(engine, log, "guild")
    before = slices(engine, "guild")
    with engine.connect() as slice_process:
        pid = slice_process.execute(text("SELECT pg_backend_pid()")).scalar_one()
        slice_process.execute(text("SELECT pg_advisory_lock_shared(:k)"),
                              {"k": projector_lock_key(get(slice_process, "guild").id)})
        slice_process.commit()
        # When catch-up and projection create run
        caught_up = main(["catch-up", "--projection", "guild"])
        out = capsys.readouterr().out
        created = main(["projection", "create", "guild"])
        err = capsys.readouterr().err
        slice_process.execute(text("SELECT pg_advisory_unlock_all()"))
        slice_process.commit()
    # Then catch-up says who holds it, create refuses naming it, and nothing moved
    assert caught_up == 0 and f"busy: backend PID {pid}" in out
    assert created == 2 and "PROJECTION_BUSY" in err and f"backend PID {pid}" in err
    assert slices(engine, "guild") == before


def test_a_parallel_build_killed_with_sigkill_resumes(log: EventStore, engine: Engine,
                                                      database_url: str, cli_env: str,
                                                      tmp_path: Path) -> None:
    # Given a parallel build in real processes, killed with SIGKILL (the whole
    # process group, as kill -9 of a terminal's job) once its slices made progress
    policy = tmp_path / "guild.json"
    policy.write_text(json.dumps(GUILD), encoding="utf-8")
    new_projection(engine, "guild", Policy.model_validate(GUILD))
    build = ("import sys\nfrom sqlalchemy import create_engine\n"
             "from eventlog.store import EventStore\n"
             "from projections.parallel import rebuild_parallel\n"
             "engine = create_engine(sys.argv[1])\n"
             "rebuild_parallel(engine, EventStore(engine), 'guild', 2, batch_size=10)\n")
    process = subprocess.Popen([sys.executable, "-c", build, database_url],
                               env={**os.environ}, start_new_session=True)
    try:
        for _ in range(600):  # bounded: at most ~60 s
            progress = slices(engine, "guild")
            if progress and any(0 < cp < upto for _, cp, upto in progress):
                break
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert slices(engine, "guild"), "the kill should land before the merge"
    # (once the server has ended the killed clients' backends, which held the lock)
    with engine.connect() as conn:
        key = projector_lock_key(get(conn, "guild").id)
        for _ in range(600):
            if not lock_holders(conn, key):
                break
            time.sleep(0.05)
    # When `projection create NAME` is run, as the README says
    assert main(["projection", "create", "guild"]) == 0
    # Then the build is complete and equals a single rebuild
    assert_equals_a_single_rebuild(engine, log, "guild")


# -- rollback -------------------------------------------------------------------------------

def test_rollback_refuses_a_projection_that_is_behind_unless_forced_or_waited(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given "guild" active, and the previous projection left behind the log
    store.append([make_event() for _ in range(3)])
    Projector(engine, store, "default").catch_up()
    new_projection(engine, "guild", Policy.model_validate(GUILD))
    activate_when_caught_up(engine, store, "guild", wait=True)
    store.append([make_event() for _ in range(4)])
    Projector(engine, store, "guild").catch_up()
    # When the operator rolls back
    refused = main(["projection", "rollback"])
    err = capsys.readouterr().err
    # Then it is refused as activate would, and nothing switched
    assert refused == 2 and "PROJECTION_BEHIND" in err and "4 events behind" in err
    assert "--force" in err
    with engine.connect() as conn:
        assert get(conn, None).name == "guild"
    # And --force switches anyway, --wait catches it up first
    assert main(["projection", "rollback", "--force"]) == 0
    with engine.connect() as conn:
        assert get(conn, None).name == "default"
        assert get(conn, "default").checkpoint == 3
    store.append([make_event()])
    assert main(["projection", "rollback", "--wait"]) == 0
    with engine.connect() as conn:
        assert get(conn, None).name == "guild"
        assert get(conn, "guild").checkpoint == store.horizon(conn)


def test_rollback_of_a_caught_up_projection_is_instant(store: EventStore,
                                                      engine: Engine) -> None:
    store.append([make_event()])
    new_projection(engine, "guild", Policy.model_validate(GUILD))
    activate_when_caught_up(engine, store, "guild", wait=True)
    Projector(engine, store, "default").catch_up()
    assert rollback_when_caught_up(engine, store) == ("guild", "default")


def test_rollback_with_nothing_to_go_back_to(store: EventStore, engine: Engine) -> None:
    with pytest.raises(ProjectionError) as raised:
        rollback_when_caught_up(engine, store)
    assert raised.value.code == "NOTHING_TO_ROLL_BACK"


# -- drop -------------------------------------------------------------------------------------

def test_dropping_a_projection_while_it_builds_says_what_it_waits_for(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a projector working on "spare" (it holds the projector lock)
    store.append([make_event()])
    new_projection(engine, "spare")
    with engine.connect() as projector:
        pid = projector.execute(text("SELECT pg_backend_pid()")).scalar_one()
        projector.execute(text("SELECT pg_advisory_lock(:k)"),
                          {"k": projector_lock_key(get(projector, "spare").id)})
        projector.commit()
        # When the operator drops it
        status = main(["projection", "drop", "spare", "--timeout", "1"])
        err = capsys.readouterr().err
        projector.execute(text("SELECT pg_advisory_unlock_all()"))
        projector.commit()
    # Then drop says it waits for that backend, gives up after the timeout with
    # one line naming it, and the projection is still there
    assert status == 2
    assert f"waiting up to 1s for the projector lock of spare, held by backend PID {pid}" in err
    assert "PROJECTION_BUSY" in err and f"backend PID {pid}" in err.splitlines()[-1]
    with engine.connect() as conn:
        assert get(conn, "spare").name == "spare"
    # And once the projector is done, drop goes through
    assert main(["projection", "drop", "spare"]) == 0


@pytest.mark.parametrize("argv", [["projection", "create", "x", "--workers", "0"],
                                  ["projection", "create", "x", "--workers", "-2"],
                                  ["projection", "drop", "x", "--timeout", "-1"],
                                  ["worker", "--threads", "0"]])
def test_numeric_options_refuse_what_makes_no_sense(argv: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(argv)
    assert usage.value.code == 2 and "below" in capsys.readouterr().err
