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
from sqlalchemy import Engine, text

from eventlog.access import create_token
from eventlog.store import EventStore
from projections.projector import Projector
from tests.fixtures.builders import event_dict
from tests.fixtures.http import free_port
from tests.fixtures.projections import new_projection, snapshot
from workers.api.client import ConvlogClient

CHATS = 8
TURNS = 400  # per chat: more than the server answers before it is killed


def test_a_server_killed_mid_burst_loses_no_answered_turn(
        database_url: str, engine: Engine, store: EventStore) -> None:
    # Given `convlog serve` in its own process, and eight chats sending turns at once
    token = create_token(engine, "gw", ["main"], ["ingest", "read"])
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
                break
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
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
