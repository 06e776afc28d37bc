"""Workers on several hosts: a sliced build outlives one host's workers killed with SIGKILL.

Two hosts are network namespaces (tests/fixtures/hosts.py), each running `convlog
worker` processes that reach PostgreSQL and RabbitMQ over their veth link only, as a
login in `convlog_worker`. This process hands out the slices as that login too
(`build_on_workers`, as `convlog projection create --slices` does), one host's workers
are killed while they fold, and the other host's finish the build.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from eventlog.encoding_names import DEFAULT_ENCODING
from eventlog.events import Event
from eventlog.search_index import keep_current
from eventlog.store import EventStore
from projections.distributed import SlicedBuild, build_on_workers
from projections.policy import Policy
from projections.projector import Projector
from projections.projector.slices import slice_states
from projections.registry import find, get, slice_lock_key
from tests.fixtures.hosts import Host, Relay, hosts, require_namespaces
from tests.fixtures.projections import new_projection, snapshot
from workers.counting_pool import count_tokens
from workers.jobs import declare_actors, make_broker
from workers.tools.workload import generate

pytestmark = [pytest.mark.slow, pytest.mark.broker]

EVENTS = 20_000
SLICES = 4
BATCH = 100  # small batches: a slice takes many, so the kill lands inside one
PER_USER = Policy.model_validate({"name": "per-user", "dimensions": ["chat", "sender"]})
# Never re-sent nor folded here (test_sliced_build_on_workers.py tests that): the victim's
# jobs can only reach the survivor by RabbitMQ handing back what the victim never acked.
STALL_OFF = 3600.0
_SCRIPT = Path(sys.executable).with_name("convlog")
CONVLOG = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "workers.cli"]


@contextmanager
def worker_login(engine: Engine) -> Iterator[tuple[str, str]]:
    """A login that is a member of convlog_worker, as docs/roles.md deploys workers."""
    name, password = f"convlog_hosts_{os.getpid()}", secrets.token_hex(16)
    with engine.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        conn.execute(text(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' "
                          "IN ROLE convlog_worker"))
    try:
        yield name, password
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))


def relayed(url: str, host: Host, stack: ExitStack) -> tuple[str, Relay]:
    """A relay for `host` to the service at `url`; `url` pointed at the relay."""
    parts = urlsplit(url)
    relay = Relay(host.gateway, (parts.hostname or "127.0.0.1", parts.port or 0))
    stack.callback(relay.close)
    netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=netloc + relay.address)), relay


def start_workers(host: Host, label: str, database_url: str, broker_url: str,
                  logs: Path, stack: ExitStack) -> list[subprocess.Popen[bytes]]:
    """Two `convlog worker` processes inside `host`, named `label` to PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVLOG_", "PG"))}
    env |= {"CONVLOG_DATABASE_URL": database_url, "CONVLOG_BROKER_URL": broker_url,
            "PGAPPNAME": label}
    processes = []
    for n in range(2):
        log = stack.enter_context((logs / f"{label}-{n}.log").open("wb"))
        process = subprocess.Popen(
            host.command(*CONVLOG, "worker", "--threads", "1", "--tick", "1"),
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(stop, process)
        processes.append(process)
    return processes


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def read_logs(logs: Path, label: str) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(logs.glob(f"{label}-*.log")))


def wait_until_ready(processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        every = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
        dead = [p for p in processes if p.poll() is not None]
        assert not dead, f"a worker exited ({dead[0].returncode}):\n{every}"
        if every.count("Ctrl-C to stop") == len(processes):
            return
        time.sleep(0.2)
    pytest.fail(f"the workers did not start in 90 s:\n{every}")


def slice_holders(conn: Connection, projection_id: int) -> dict[int, str]:
    """Slice -> the application name of the backend folding it."""
    keys = {slice_lock_key(projection_id, i): i for i in range(SLICES)}
    rows = conn.execute(text(
        "SELECT (l.classid::bigint << 32) | l.objid::bigint AS key, a.application_name "
        "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"))
    return {keys[r.key]: r.application_name for r in rows if r.key in keys}


def test_a_sliced_build_outlives_a_host_killed_mid_build(
        store: EventStore, engine: Engine, database_url: str, rabbitmq_url: str,
        tmp_path: Path) -> None:
    require_namespaces()
    # Given a log whose token counts and search index are current (the workers' chores
    # done), and a single-process build of the per-user policy to compare with
    store.append([Event.model_validate(e) for e in generate(EVENTS, seed=3)])
    count_tokens(engine, DEFAULT_ENCODING)
    for _ in range(10):
        if not search_behind(engine):
            break
        keep_current(engine)
    Projector(engine, store, "default").catch_up()
    new_projection(engine, "single", PER_USER)
    Projector(engine, store, "single").catch_up()
    broker = make_broker(rabbitmq_url)
    broker.flush_all()
    jobs = declare_actors(broker)
    with ExitStack() as stack:
        stack.callback(broker.close)
        # And two hosts, each running two workers that reach PostgreSQL and RabbitMQ over
        # their veth link, as a login in convlog_worker
        user, password = stack.enter_context(worker_login(engine))
        database = make_url(database_url).set(username=user, password=password)
        as_worker = create_engine(database)  # the build is handed out as that login too
        stack.callback(as_worker.dispose)
        workers: dict[str, list[subprocess.Popen[bytes]]] = {}
        relays: list[tuple[Host, Relay]] = []
        for host, label in zip(stack.enter_context(hosts(2)), ("host-a", "host-b"),
                               strict=True):
            db_url, db_relay = relayed(database.render_as_string(hide_password=False), host,
                                       stack)
            mq_url, mq_relay = relayed(rabbitmq_url, host, stack)
            workers[label] = start_workers(host, label, db_url, mq_url, tmp_path, stack)
            relays += [(host, db_relay), (host, mq_relay)]
        wait_until_ready([p for ps in workers.values() for p in ps], tmp_path)

        # When this process hands out a sliced build of the policy
        outcome: dict[str, Any] = {}

        def coordinate() -> None:
            try:
                outcome["build"] = build_on_workers(
                    as_worker, EventStore(as_worker, store.counter), "sliced", SLICES,
                    jobs.fold_slice.send, policy=PER_USER, batch_size=BATCH, deadline=240,
                    stall_seconds=STALL_OFF)
            except BaseException as error:  # reported by the test below
                outcome["error"] = error

        coordinator = threading.Thread(target=coordinate)
        coordinator.start()
        stack.callback(coordinator.join, 300)
        # And one host's workers are killed with SIGKILL while both hosts fold slices, the
        # victim's part-way through one
        victim, held = kill_mid_slice(engine, workers, outcome)
        survivor = next(label for label in workers if label != victim)
        with engine.connect() as conn:
            projection_id = get(conn, "sliced").id
            left = {s.partition.index for s in slice_states(conn, projection_id, PER_USER)
                    if not s.done}
        orphaned = sorted(left & set(held))
        assert orphaned, "the victim finished its slices before it died: kill earlier"
        coordinator.join(timeout=300)

        # Then the build completes, the victim's unfinished slices folded by the other
        # host's workers, and equals the single-process build
        assert not coordinator.is_alive(), "the sliced build did not finish"
        assert "error" not in outcome, outcome.get("error")
        build: SlicedBuild = outcome["build"]
        assert (build.slices, build.folded_here) == (SLICES, 0)
        survivor_log = read_logs(tmp_path, survivor)
        for index in orphaned:
            assert re.search(rf"projection sliced: slice {index} folded", survivor_log), \
                survivor_log
        assert all(p.poll() is None for p in workers[survivor])
        with engine.connect() as conn:
            assert get(conn, "sliced").checkpoint == store.horizon(conn) == EVENTS
            assert slice_states(conn, projection_id, PER_USER) == []
        assert snapshot(engine, "sliced") == snapshot(engine, "single")
        # And every worker reached both services over its veth link: each relay, listening
        # on this side's end, took connections from the host's address, and only from it
        for host, relay in relays:
            assert relay.peers == {host.address}


def search_behind(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT coalesce(max(position), 0) > (SELECT indexed_upto FROM search_state) "
            "FROM events")).scalar_one())


def kill_mid_slice(engine: Engine, workers: dict[str, list[subprocess.Popen[bytes]]],
                   outcome: dict[str, Any]) -> tuple[str, list[int]]:
    """SIGKILL the workers of the first host seen folding a slice part-way while the other
    host folds one too; (that host's label, the slices it held)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not outcome:
        with engine.connect() as conn:
            info = find(conn, "sliced")
            states = {s.partition.index: s for s in slice_states(conn, info.id, PER_USER)} \
                if info is not None else {}
            holders = slice_holders(conn, info.id) if info is not None else {}
        by_host = {label: [i for i, name in holders.items() if name == label]
                   for label in workers}
        for label, held in by_host.items():
            others = [h for other, h in by_host.items() if other != label]
            midway = [i for i in held if i in states and states[i].checkpoint > 0
                      and not states[i].done]
            if midway and all(others):
                for process in workers[label]:
                    os.killpg(process.pid, signal.SIGKILL)
                for process in workers[label]:
                    process.wait(timeout=30)
                return label, held
        time.sleep(0.05)
    pytest.fail(f"no host was seen folding a slice part-way while the other folded one "
                f"({outcome or 'the build is still running'}); a larger log would help")
