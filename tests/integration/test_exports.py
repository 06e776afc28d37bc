"""`convlog export`: Parquet reads back with SQL's counts; no format holds erased content."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from eventlog.ingest import ingest_lines
from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from tests.fixtures.projections import project
from workers.cli.main import main
from workers.tools.exports import copying
from workers.tools.workload import generate

SECRET = "heron-cobalt-7731 my passport number"
SECRET_NAME = "Ysolde Marchetti-Baptiste"


@pytest.fixture
def exported_log(engine: Engine, store: EventStore, cli_env: str,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copying, "ROW_GROUP", 500)  # several row groups from a small log
    ingest_lines(store, (json.dumps(e).encode() for e in generate(2_500, seed=5)))
    store.append([
        make_event(sender="111", sender_name=SECRET_NAME, text=SECRET, message_id="s1"),
        make_event(sender="111", sender_name=SECRET_NAME, text=SECRET + " again",
                   message_id="s2", meta={"file": "scan.pdf"}),
        make_event(type="message.sent", sender=None, sender_name=None, reply_to="s1",
                   message_id="s3", text="noted"),
    ])
    project(engine, store, "default")
    assert main(["erase", "--sender", "discord:111", "--reason", "request 12", "--yes"]) == 0


def sql_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT count(*), count(DISTINCT m.session_id) FROM session_members m "
            "JOIN active_projection a ON a.projection_id = m.projection_id")).one()
    return int(row[0]), int(row[1])


def test_parquet_round_trips_with_pyarrow_and_duckdb(
        exported_log: None, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "messages.parquet"
    assert main(["export", "--format", "parquet", "-o", str(path)]) == 0
    members, sessions = sql_counts(engine)
    table = pq.read_table(path)
    assert table.num_rows == members
    assert len(set(table.column("session_id").to_pylist())) == sessions
    assert pq.ParquetFile(path).num_row_groups > 1  # written in row groups, not at once
    with engine.connect() as conn:
        tokens = conn.execute(text(
            "SELECT sum(m.tokens) FROM session_members m JOIN active_projection a "
            "ON a.projection_id = m.projection_id")).scalar_one()
    assert sum(table.column("tokens").to_pylist()) == tokens
    with engine.connect() as conn:
        no_text = conn.execute(text(
            "SELECT count(*) FROM session_transcript WHERE active AND text IS NULL")
        ).scalar_one()
    assert table.column("text").null_count == no_text > 0
    duckdb = pytest.importorskip("duckdb")
    found = duckdb.connect().execute(
        "SELECT count(*), count(DISTINCT session_id), sum(tokens) FROM read_parquet(?)",
        [str(path)]).fetchone()
    assert found == (members, sessions, tokens)


def test_no_format_exports_erased_content(exported_log: None, engine: Engine,
                                          tmp_path: Path) -> None:
    members, sessions = sql_counts(engine)
    outputs = {}
    for fmt in ("parquet", "csv", "jsonl", "openai", "markdown"):
        outputs[fmt] = tmp_path / f"out.{fmt}"
        assert main(["export", "--format", fmt, "-o", str(outputs[fmt])]) == 0
    for path in [*outputs.values(), *outputs["markdown"].iterdir()]:
        if path.is_dir():
            continue
        blob = path.read_bytes()
        for secret in (SECRET, SECRET_NAME):
            assert secret.encode() not in blob, (path.name, secret)
    # The row formats keep the erased rows (their place and tokens), without content.
    lines = outputs["jsonl"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == members
    erased = [row for row in map(json.loads, lines) if row["state"] == "erased"]
    assert erased and all(row["text"] is None and row["sender_name"] is None for row in erased)
    assert len(outputs["csv"].read_text(encoding="utf-8").splitlines()) >= members + 1
    assert len(list(outputs["markdown"].iterdir())) == sessions


def test_openai_lines_are_chat_messages_with_tool_calls_kept_with_results(
        engine: Engine, store: EventStore, cli_env: str, tmp_path: Path) -> None:
    store.append([
        make_event(sender="7", sender_name="dana", text="what failed?", message_id="q1"),
        make_event(type="tool.used", sender=None, sender_name=None, reply_to="q1",
                   message_id="t1", text="3 tests failed",
                   meta={"tool": "ci_status", "arguments": {"run": 12}}),
        make_event(type="message.sent", sender=None, sender_name=None, reply_to="q1",
                   message_id="r1", text="Three tests failed in run 12."),
    ])
    project(engine, store, "default")
    path = tmp_path / "chats.jsonl"
    assert main(["export", "--format", "openai", "-o", str(path)]) == 0
    (line,) = path.read_text(encoding="utf-8").splitlines()
    messages = json.loads(line)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[0] == {"role": "user", "content": "what failed?", "name": "dana"}
    call = messages[1]["tool_calls"][0]
    assert call["function"] == {"name": "ci_status", "arguments": '{"run": 12}'}
    assert messages[2] == {"role": "tool", "tool_call_id": call["id"],
                           "content": "3 tests failed"}


def test_export_of_an_unknown_projection_says_what_to_do(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--projection", "nope", "--format", "csv",
                 "-o", str(tmp_path / "x.csv")]) == 2
    assert "NOTHING_TO_EXPORT" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_an_analyst_exports_every_format_as_the_reader_role(
        exported_log: None, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    joiner = "&" if "?" in database_url else "?"
    monkeypatch.setenv("CONVLOG_DATABASE_URL",
                       database_url + joiner + "options=-c%20role%3Dconvlog_reader")
    for fmt in ("parquet", "csv", "jsonl", "openai", "markdown"):
        assert main(["export", "--format", fmt, "-o", str(tmp_path / f"r.{fmt}")]) == 0, fmt
