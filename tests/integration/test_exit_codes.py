"""Exit codes: 0 done, 1 some input rejected, 2 usage/configuration/database, 70 a bug."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

import workers.cli.log
from tests.fixtures.append_gate import (
    gate_shut,
    install_gate,
    terminate_other_backends,
    wait_at_gate,
)
from tests.fixtures.builders import event_dict
from tests.fixtures.database import log_counts as counts
from workers.cli.main import EXIT_BUG, main


def write_events(path: Path, count: int, **marked: int) -> Path:
    """`count` valid lines; `marked` maps a message_id to the line (from 1) that carries it."""
    at = {line: message_id for message_id, line in marked.items()}
    rows = [json.dumps(event_dict(message_id=at.get(n, f"m{n}"), text=f"line {n}"))
            for n in range(1, count + 1)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_all_landed_is_0_and_a_rerun_of_duplicates_is_0(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_events(tmp_path / "events.jsonl", 5)
    assert main(["ingest", str(source)]) == 0
    assert main(["ingest", str(source)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {
        "appended": 0, "duplicates": 5, "rejected": 0}


@pytest.mark.parametrize("argv", [
    ["log", "tail", "-n", "-1"],
    ["sessions", "--limit", "-5"],
    ["context", "some-session", "--budget", "-100"],
    ["context", "some-session", "--as-of", "-1"],
    ["ingest", "-", "--batch-size", "0"],
    ["log", "tail", "-n", "many"],
])
def test_negative_counts_are_usage_errors(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # Given a command line with a negative (or non-numeric) count
    # When it is parsed
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    # Then it is a usage error (2) that says what is wrong, before anything runs
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "is below" in err or "is not a whole number" in err


def test_an_unreachable_database_is_one_line_and_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a URL where no server listens
    monkeypatch.setenv("CONVLOG_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/nowhere")
    source = write_events(tmp_path / "events.jsonl", 3)
    # When a command needs the database
    status = main(["ingest", str(source)])
    # Then it is one retryable line and exit 2, with no traceback
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("convlog: error [")
    assert "Traceback" not in err


def test_a_connection_killed_mid_ingest_is_one_line_2_and_a_rerun_appends_the_rest(
        cli_env: str, engine: Engine, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given 1,000 lines ingested in batches of 100, the 5th batch stopping at a gate
    install_gate(engine)
    source = write_events(tmp_path / "events.jsonl", 1_000, gate=450)
    killed: list[int] = []
    with gate_shut(engine) as holder:
        def kill_when_waiting() -> None:
            wait_at_gate(holder)
            killed.append(terminate_other_backends(holder))

        killer = threading.Thread(target=kill_when_waiting)
        killer.start()
        # When the ingest's connections are terminated while it appends that batch
        status = main(["ingest", str(source), "--batch-size", "100"])
        killer.join(timeout=120)
    # Then it exits 2 with one line that says a retry is safe, and no traceback
    out, err = capsys.readouterr()
    assert killed and killed[0] >= 1
    assert status == 2, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("convlog: error [") and "retr" in err
    assert "Traceback" not in err
    assert counts(cli_env) == (400, 400)
    # And a rerun appends the rest: nothing lost, nothing doubled
    assert main(["ingest", str(source), "--batch-size", "100"]) == 0
    assert json.loads(capsys.readouterr().out) == {"appended": 600, "duplicates": 400,
                                                   "rejected": 0}
    assert counts(cli_env) == (1_000, 1_000)


def test_an_unexpected_error_is_a_bug_not_a_rejection(
        cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a fault injected where no error is expected (a stand-in for a bug)
    def broken() -> None:
        raise RuntimeError("stand-in for a bug")

    monkeypatch.setattr(workers.cli.log, "bootstrap", broken)
    source = write_events(tmp_path / "events.jsonl", 1)
    # When the command meets it
    status = main(["ingest", str(source)])
    # Then the exit status is neither 1 (rejected lines) nor 2, and the traceback is kept
    err = capsys.readouterr().err
    assert status == EXIT_BUG
    assert "Traceback" in err and "convlog: error [BUG]" in err
