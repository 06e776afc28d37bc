"""No bad value costs a good one: the bad lines go to rejects as they occur, the rest lands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from eventlog.events import Rejection
from eventlog.ingest import SAMPLE_SIZE, ingest_lines
from eventlog.store import EventStore
from tests.fixtures.append_gate import gate_shut, install_gate, wait_at_gate
from tests.fixtures.builders import event_dict
from tests.fixtures.database import log_counts as counts
from workers.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def lines_with(count: int, bad: dict[int, dict[str, Any]]) -> list[str]:
    """`count` valid JSONL lines (numbered from 1), those in `bad` changed by their fields."""
    return [json.dumps(event_dict(**{"message_id": f"m{n}", "text": f"line {n}",
                                     **bad.get(n, {})}))
            for n in range(1, count + 1)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(row) for row in path.read_text(encoding="utf-8").splitlines()]


def test_one_nul_on_line_7000_of_12000_costs_only_that_line(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the file: 12,000 lines, a \u0000 in the text of line 7,000
    source = write(tmp_path / "events.jsonl",
                   lines_with(12_000, {7_000: {"text": "bad \u0000 byte"}}))
    rejects = tmp_path / "rejects.jsonl"
    # When it is ingested
    status = main(["ingest", str(source), "--rejects", str(rejects)])
    # Then 11,999 lines land, the one bad line is a coded reject in the file, and the
    # exit status says "some rejected, every good one kept", with no traceback
    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out) == {"appended": 11_999, "duplicates": 0, "rejected": 1}
    assert [(r["line"], r["code"]) for r in read_rejects(rejects)] == [(7_000, "NUL_CHARACTER")]
    assert "line 7000: [NUL_CHARACTER] text: holds a NUL character" in err
    assert "Traceback" not in err
    assert counts(cli_env) == (11_999, 11_999)


@pytest.mark.parametrize("refusal", ["check constraint", "trigger"])
def test_lines_the_database_refuses_are_isolated_and_the_rest_lands(
        refusal: str, cli_env: str, engine: Engine, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a database that refuses some rows for their data, beyond what parsing checks
    with engine.begin() as conn:
        if refusal == "check constraint":
            conn.execute(text("ALTER TABLE events ADD CONSTRAINT test_refuse "
                              "CHECK (chat IS DISTINCT FROM 'refused') NOT VALID"))
        else:
            conn.execute(text("""
                CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.chat = 'refused' THEN RAISE EXCEPTION 'chat % is closed', NEW.chat;
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER test_refuse BEFORE INSERT ON events
                    FOR EACH ROW EXECUTE FUNCTION test_refuse();"""))
    bad = {n: {"chat": "refused"} for n in (7, 23, 24, 50)}
    lines = lines_with(50, bad)
    source = write(tmp_path / "events.jsonl", lines)
    rejects = tmp_path / "rejects.jsonl"
    # When the file is ingested in batches of 16
    status = main(["ingest", str(source), "--rejects", str(rejects), "--batch-size", "16"])
    # Then the refused lines are rejects with the database's reason and their raw line,
    # and every other line landed, in line order
    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out) == {"appended": 46, "duplicates": 0, "rejected": 4}
    kept = read_rejects(rejects)
    assert [(r["line"], r["code"]) for r in kept] == [(n, "DATABASE_REFUSED") for n in sorted(bad)]
    reason = "test_refuse" if refusal == "check constraint" else "chat refused is closed"
    assert all(reason in r["reason"] for r in kept)
    assert [r["raw"] for r in kept] == [lines[n - 1] for n in sorted(bad)]
    with engine.connect() as conn:
        landed = conn.execute(text("SELECT message_id FROM events ORDER BY position")).scalars()
        assert list(landed) == [f"m{n}" for n in range(1, 51) if n not in bad]


def test_rejects_stream_to_the_sink_and_memory_keeps_only_a_sample(store: EventStore) -> None:
    # Given 5,000 bad lines among 50 good ones
    raw = [b'{"type": "message.received", "broken": ' for _ in range(5_000)]
    raw += [json.dumps(event_dict()).encode() for _ in range(50)]
    seen: list[int] = []
    # When they are ingested with a sink
    result = ingest_lines(store, raw, batch_size=500,
                          on_rejection=lambda rejection: seen.append(rejection.line))
    # Then every rejection went to the sink in line order, the result keeps counts and
    # a bounded sample, and the good lines landed
    assert seen == list(range(1, 5_001))
    assert (result.appended, result.rejected) == (50, 5_000)
    assert len(result.sample) == SAMPLE_SIZE
    assert all(isinstance(r, Rejection) and r.code == "MALFORMED_JSON" for r in result.sample)


@pytest.mark.parametrize("where", ["missing directory", "the input itself", "a hard link to it",
                                   "a symlink to it", "stdin read from it"])
def test_an_unusable_rejects_path_is_refused_before_anything_is_appended(
        where: str, cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a good file and a --rejects path that cannot be used
    source = write(tmp_path / "events.jsonl", lines_with(10, {3: {"text": None}}))
    before = source.read_bytes()
    rejects = {"missing directory": tmp_path / "no" / "such" / "dir.jsonl",
               "a hard link to it": tmp_path / "hard.jsonl",
               "a symlink to it": tmp_path / "soft.jsonl"}.get(where, source)
    if where == "a hard link to it":
        os.link(source, rejects)
    elif where == "a symlink to it":
        rejects.symlink_to(source)
    argument = str(source)
    with open(source, encoding="utf-8") as stdin:
        if where == "stdin read from it":  # convlog ingest - --rejects F < F
            monkeypatch.setattr(sys, "stdin", stdin)
            argument = "-"
        # When it is ingested
        status = main(["ingest", argument, "--rejects", str(rejects)])
    # Then the command stops with one line, appends nothing, and the input is intact
    err = capsys.readouterr().err
    assert status == 2
    code = "REJECTS_NOT_WRITABLE" if where == "missing directory" else "REJECTS_IS_INPUT"
    assert err.startswith(f"convlog: error [{code}]") and err.count("\n") == 1
    assert counts(cli_env) == (0, 0)
    assert source.read_bytes() == before


def test_a_killed_ingest_leaves_the_rejects_found_so_far(
        cli_env: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a 300-line file with bad lines in its first batch and a gate in its second
    install_gate(engine)
    lines = lines_with(300, {10: {"occurred_at": "0001-01-01T00:00:00Z"},
                             20: {"meta": {"score": float("nan")}},  # written as NaN
                             150: {"message_id": "gate"}})
    source = write(tmp_path / "events.jsonl", lines)
    rejects = tmp_path / "rejects.jsonl"
    with gate_shut(engine) as holder:
        # When the ingest (another process) stops at the gate and is killed with SIGKILL
        child = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "ingest", str(source), "--rejects",
             str(rejects), "--batch-size", "100", "--quiet"],
            cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            wait_at_gate(holder)
            on_disk_before_kill = read_rejects(rejects)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    # Then the first batch's rejects were on disk before it died, and stay there
    assert [(r["line"], r["code"]) for r in on_disk_before_kill] == [
        (10, "TIME_OUT_OF_RANGE"), (20, "NON_FINITE_NUMBER")]
    assert read_rejects(rejects) == on_disk_before_kill
    assert counts(cli_env) == (98, 98)
    # And a rerun lands the rest, nothing lost or doubled
    assert main(["ingest", str(source), "--quiet"]) == 1
    assert json.loads(capsys.readouterr().out) == {"appended": 200, "duplicates": 98,
                                                   "rejected": 2}
    assert counts(cli_env) == (298, 298)
