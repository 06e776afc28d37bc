"""A server killed with SIGKILL in the middle of a burst of turns loses nothing it answered,
and its follower's unfinished fold leaves a projection a rebuild agrees with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil
from convlog_client import ConvlogClient
from sqlalchemy import Engine, text

from eventlog.access import create_token
from eventlog.store import EventStore
from projections.projector import Projector
from tests.fixtures.builders import event_dict
from tests.fixtures.http import free_port
from tests.fixtures.projections import new_projection, snapshot

CHATS = 8
TURNS = 400  # per chat: more than the server answers before it is killed


def serve(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """`convlog serve` (one server process and its folder) on a free port, once ready."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "workers.cli.main", "serve", "--port", str(port), "--workers",
         "1", "--log-level", "critical"], env={**os.environ, "CONVLOG_DATABASE_URL": database_url},
        stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def folders(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The server's folder process (beside it: multiprocessing's resource tracker)."""
    return [child for child in psutil.Process(server.pid).children()
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
            and "spawn_main" in " ".join(child.cmdline())]


def test_turns_are_answered_when_the_folder_process_is_killed(
        database_url: str, engine: Engine) -> None:
    # Given `convlog serve`, its folder process, and a chat's first turn answered
    token = create_token(engine, "gw", ["main"], ["ingest", "read"])
    server, url = serve(database_url)
    try:
        with ConvlogClient(url, token, retries=0, timeout=20) as client:
            client.turn(event_dict(text="before", message_id="m1"))
            [folder] = folders(server)
            # When the folder is killed with SIGKILL and the chat goes on at once
            folder.send_signal(signal.SIGKILL)
            folder.wait(timeout=10)
            answers = [client.turn(event_dict(text=f"after {n}", message_id=f"a{n}"))
                       for n in range(3)]
        # Then every turn is answered with its own message (the server folds until a new
        # folder is started, which one is)
        for n, answer in enumerate(answers):
            assert answer["context"]["messages"][-1]["content"] == f"after {n}"
        deadline = time.monotonic() + 20
        while not [f for f in folders(server) if f.pid != folder.pid]:
            assert time.monotonic() < deadline, "no new folder process was started"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_server_killed_mid_burst_loses_no_answered_turn(
        database_url: str, engine: Engine, store: EventStore) -> None:
    # Given `convlog serve` in its own process, and eight chats sending turns at once
    token = create_token(engine, "gw", ["main"], ["ingest", "read"])
    server, url = serve(database_url)
    deadline = time.monotonic() + 60
    answered: list[str] = []
    lock = threading.Lock()

    def chat(n: int) -> None:
        with ConvlogClient(url, token, retries=0, timeout=10) as client:
            for turn in range(TURNS):
                try:
                    answer = client.turn(event_dict(chat=f"c{n}", text=f"{n}/{turn}",
                                                    message_id=f"{n}-{turn}"))
                except Exception:  # the server is gone: this chat's burst ends
                    return
                with lock:
                    answered.append(answer["event_id"])

    threads = [threading.Thread(target=chat, args=(n,)) for n in range(CHATS)]
    for thread in threads:
        thread.start()
    # When the server is killed with SIGKILL once it has answered some of them
    while len(answered) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.send_signal(signal.SIGKILL)
    server.wait()
    for thread in threads:
        thread.join()
    # Then every turn it answered is in the log
    with engine.connect() as conn:
        logged = {row[0] for row in conn.execute(text("SELECT event_id FROM events"))}
    assert 40 <= len(answered) < CHATS * TURNS
    assert set(answered) <= logged
    # And once a projector resumes (the dead server's lock released), the projection
    # equals a clean rebuild of the same log
    while Projector(engine, store).catch_up().skipped:
        assert time.monotonic() < deadline + 30, "the dead server's projector lock stayed"
        time.sleep(0.1)
    new_projection(engine, "clean")
    Projector(engine, store, "clean").catch_up()
    assert snapshot(engine, "default") == snapshot(engine, "clean")
