"""`convlog serve` as a user runs it: processes on a port, a clear line when it cannot start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from convlog_client import ConvlogClient
from sqlalchemy import Engine

from eventlog.access import create_token
from eventlog.database import scratch_database
from tests.fixtures.builders import event_dict
from tests.fixtures.http import free_port

STARTUP_SECONDS = 60


@pytest.mark.slow  # two server processes start in ~10 s on 2 cores
def test_convlog_serve_runs_two_processes_and_stops_on_sigterm(database_url: str,
                                                               engine: Engine) -> None:
    # Given `convlog serve --workers 2` on a free port
    port = free_port()
    token = create_token(engine, "gw", ["main"], ["ingest", "read"])
    server = subprocess.Popen(
        [sys.executable, "-m", "workers.cli.main", "serve", "--port", str(port), "--workers", "2",
         "--log-level", "warning"],
        env={**os.environ, "CONVLOG_DATABASE_URL": database_url}, stderr=subprocess.PIPE,
        text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        # When a gateway sends turns to it
        with ConvlogClient(url, token) as client:
            turns = [client.turn(event_dict(text=f"hello {n}")) for n in range(4)]
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    # Then each turn's context holds every message so far, whichever process answered;
    # the counters of both processes are merged; SIGTERM stops it cleanly
    assert [len(t["context"]["messages"]) for t in turns] == [1, 2, 3, 4]
    assert "convlog_events_appended_total 4.0" in metrics
    assert server.returncode == 0, stderr


def test_convlog_serve_without_a_schema_says_so_in_one_line(admin_url: str) -> None:
    # Given a database that `convlog init` never ran on
    with scratch_database(admin_url, "convlog_empty") as url:
        # When `convlog serve` is started on it
        done = subprocess.run([sys.executable, "-m", "workers.cli.main", "serve", "--port",
                               str(free_port())], env={**os.environ, "CONVLOG_DATABASE_URL": url},
                              capture_output=True, text=True, timeout=120)
    # Then it exits 2 with the schema error's code, no traceback
    assert done.returncode == 2
    assert "[SCHEMA_MISSING]" in done.stderr and "Traceback" not in done.stderr
