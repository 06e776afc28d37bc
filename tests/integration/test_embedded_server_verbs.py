"""The embedded server is visible: `convlog server status|start|stop` say where its data
lives and whether it runs, a command that starts it says so once, and a misspelled
setting is named rather than silently ignored."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog.embedded_status import embedded_status
from workers.cli.main import main


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Not under pytest's 0700 temporary folder: the server user must pass through it.
    parent = Path(tempfile.mkdtemp(prefix="convlog-verbs-"))
    parent.chmod(0o755)
    monkeypatch.delenv("CONVLOG_DATABASE_URL", raising=False)
    monkeypatch.setenv("CONVLOG_HOME", str(parent / "home"))
    try:
        yield parent / "home"
    finally:
        main(["server", "stop"])
        shutil.rmtree(parent, ignore_errors=True)


def test_server_status_start_and_stop(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given no embedded server yet
    assert main(["server", "status", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    # When a command needs the log, and then the server is stopped
    assert main(["init"]) == 0
    started = capsys.readouterr().err
    assert main(["server", "status", "--json"]) == 0
    running = json.loads(capsys.readouterr().out)
    assert main(["log", "stats"]) == 0
    again = capsys.readouterr().err
    assert main(["server", "stop"]) == 0
    capsys.readouterr()
    # Then status told where the data would be and that nothing ran; the first command
    # said once that it started the server and how to stop it, the next said nothing
    assert (before["running"], before["pgdata"]) == (False, str(home / "pgdata"))
    assert "started the embedded PostgreSQL" in started and "convlog server stop" in started
    assert "started" not in again
    assert running["running"] is True and running["pid"] > 0 and running["used"] is True
    # and once stopped it is not running, its data kept
    status = embedded_status(home)
    assert not status.running and status.exists


def test_a_misspelled_setting_is_named_with_the_closest_one(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a variable that is almost CONVLOG_DATABASE_URL
    monkeypatch.setenv("CONVLOG_DATABSE_URL", "postgresql://elsewhere/db")
    # When any command runs
    assert main(["server", "status"]) == 0
    # Then it warns, naming the setting that was probably meant
    err = capsys.readouterr().err
    assert "CONVLOG_DATABSE_URL is not a setting" in err
    assert "did you mean CONVLOG_DATABASE_URL?" in err
