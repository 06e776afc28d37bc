"""Nothing valid is lost on bad input: each bad line is refused with a reason naming the field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.fixtures.builders import event_dict
from workers.cli.main import main

GOOD = json.dumps(event_dict(text="a good line"))

BAD_LINES = {
    "malformed JSON": ('{"type": "message.received", ', "MALFORMED_JSON", "malformed JSON"),
    "not an object": ('["a", "list"]', "INVALID_EVENT", "must be a JSON object"),
    "unknown type": (json.dumps(event_dict(type="message.exploded")), "INVALID_EVENT",
                     "type: must be one of"),
    "missing field": (json.dumps(event_dict(sender=None)), "INVALID_EVENT",
                      "message.received needs sender"),
    "missing agent": (json.dumps({k: v for k, v in event_dict().items() if k != "agent"}),
                      "INVALID_EVENT", "agent: is required"),
    "mistyped field": (json.dumps(event_dict(text=["not", "text"])), "INVALID_EVENT", "text:"),
    "bad chat_type": (json.dumps(event_dict(chat_type="forum")), "INVALID_EVENT", "chat_type:"),
    "bad timestamp": (json.dumps(event_dict(occurred_at="yesterday at noon")), "INVALID_EVENT",
                      "occurred_at: 'yesterday at noon' is not an RFC 3339 time"),
    "timestamp without offset": (json.dumps(event_dict(occurred_at="2026-03-01T12:00:00")),
                                 "INVALID_EVENT", "occurred_at: needs a UTC offset"),
    "text over the limit": (json.dumps(event_dict(text="x" * 101)), "INVALID_EVENT",
                            "text: is 101 characters, over the limit of 100"),
    "lone surrogate": ('{"type": "message.received", "agent": "main", "platform": "discord", '
                       '"chat": "1", "chat_type": "channel", "sender": "u", "message_id": "x", '
                       '"text": "broken \\ud83d emoji", "occurred_at": "2026-03-01T12:00:00Z"}',
                       "LONE_SURROGATE", "lone UTF-16 surrogate"),
    "unknown field": (json.dumps(event_dict(colour="blue")), "INVALID_EVENT",
                      "colour: is not a field of the event contract"),
}


def db_count(url: str) -> int:
    engine: Engine = create_engine(url)
    with engine.connect() as conn:
        value = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
    engine.dispose()
    return value


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_is_refused_with_its_reason_and_good_lines_are_kept(
        case: str, cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a file with a good line, a bad one, and another good one
    monkeypatch.setenv("CONVLOG_MAX_TEXT_CHARS", "100")
    line, code, reason = BAD_LINES[case]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([GOOD, line, json.dumps(event_dict())]) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    # When it is ingested
    status = main(["ingest", str(path), "--rejects", str(rejects)])
    # Then the exit status says something was rejected, the report names the line and
    # the field, the good lines are appended, and the rejected line is kept for fixing
    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out) == {"appended": 2, "duplicates": 0, "rejected": 1}
    assert f"line 2: [{code}]" in err and reason in err
    kept = [json.loads(row) for row in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["code"], r["raw"]) for r in kept] == [(2, code, line.strip())]
    assert db_count(cli_env) == 2


def test_invalid_utf8_is_refused_and_the_rest_appended(cli_env: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"text": "\xff\xfe broken"}\n')
    assert main(["ingest", str(path)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["appended"] == 1
    assert "line 2: [INVALID_UTF8]" in err


def test_empty_file_is_refused_with_a_reason(cli_env: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert main(["ingest", str(path)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"appended": 0, "duplicates": 0, "rejected": 1}
    assert "[EMPTY_INPUT]" in err


def test_missing_file_is_a_clear_error(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "/no/such/file.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_reingest_after_fixing_rejects_appends_only_the_fixed(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an ingest where one line was refused
    path = tmp_path / "events.jsonl"
    broken = event_dict(occurred_at="not a time")
    path.write_text(GOOD + "\n" + json.dumps(broken) + "\n", encoding="utf-8")
    main(["ingest", str(path)])
    # When the whole file is fixed and ingested again
    path.write_text(GOOD + "\n" + json.dumps({**broken, "occurred_at": "2026-03-02T00:00:00Z"})
                    + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["ingest", str(path)]) == 0
    # Then the good line is a duplicate and only the fixed one is appended
    assert json.loads(capsys.readouterr().out) == {"appended": 1, "duplicates": 1, "rejected": 0}


def test_stdin_ingest_and_log_commands(cli_env: str, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    lines = "\n".join(json.dumps(event_dict(text=f"hi {i}")) for i in range(3)) + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert main(["ingest", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["appended"] == 3
    assert main(["log", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 3
    assert main(["log", "tail", "-n", "2", "--json"]) == 0
    tail = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in tail] == ["hi 1", "hi 2"]


def test_a_directory_or_a_gzip_file_is_named_as_such_and_nothing_is_appended(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"type": "message.received"}\n'))
    for argument, code, words in ((str(tmp_path), "INPUT_NOT_READABLE", "is a directory"),
                                  (str(packed), "INPUT_COMPRESSED", "gunzip -c")):
        capsys.readouterr()
        assert main(["ingest", argument]) == 2
        err = capsys.readouterr().err
        assert f"[{code}]" in err and words in err
