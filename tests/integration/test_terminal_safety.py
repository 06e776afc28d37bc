"""Chat content is data on the operator's terminal: no markup is read, no control sequence acts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.builders import event_dict
from workers.cli.main import main
from workers.cli.output import plain

# What terminals obey: ESC sequences (clear screen, set the window title), BEL, CR,
# a C1 CSI (0x9b) and a right-to-left override.
HOSTILE = "evil \x1b[2J\x1b]0;pwned\x07 cr\r c1\x9b31m rlo\u202e end"
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")
MARKUP = "see [/] here"


@pytest.fixture
def log_with_hostile_chat(cli_env: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """A log whose messages hold markup and control sequences, projected (default policy)."""
    events = [
        event_dict(chat="c1", sender_name="[bold red]alice[/]", text=MARKUP),
        event_dict(chat="c1", sender_name="mallory\x1b[8m", text=HOSTILE),
        event_dict(chat="[red]c\x1b[31m2", text="in a chat whose id holds markup and ESC"),
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    assert main(["ingest", str(source)]) == 0
    assert main(["catch-up"]) == 0
    capsys.readouterr()
    return events


def assert_inert(output: str) -> None:
    found = [repr(c) for c in RAW_CONTROLS if c in output]
    assert not found, f"raw control characters reached the terminal: {found}"


def test_log_tail_prints_markup_literally_and_escapes_controls(
        log_with_hostile_chat: list[dict[str, object]],
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a log with "see [/] here" (a Rich MarkupError before) and escape sequences
    # When the operator looks at its tail
    status = main(["log", "tail"])
    # Then it prints, the markup as written, the control characters as visible escapes
    out = capsys.readouterr().out
    assert status == 0
    assert MARKUP in out
    assert "\\x1b[2J" in out and "\\x07" in out and "\\x9b31m" in out
    assert_inert(out)


def test_log_tail_json_keeps_the_content_exact(
        log_with_hostile_chat: list[dict[str, object]],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "tail", "--json"]) == 0
    texts = [json.loads(row)["text"] for row in capsys.readouterr().out.splitlines()]
    assert texts == [e["text"] for e in log_with_hostile_chat]


def test_context_prints_names_and_messages_as_data(
        log_with_hostile_chat: list[dict[str, object]],
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the session of chat c1
    assert main(["sessions", "--json"]) == 0
    sessions = json.loads(capsys.readouterr().out)
    session = next(s["session_id"] for s in sessions if s["key"].endswith("=c1"))
    # When the operator prints its context
    status = main(["context", session])
    # Then names and texts are shown as written, escapes visible, nothing obeyed
    out = capsys.readouterr().out
    assert status == 0
    assert f": {MARKUP}\n" in out
    assert ": evil \\x1b[2J\\x1b]0;pwned\\x07 cr\\x0d c1\\x9b31m rlo\\u202e end\n" in out
    assert_inert(out)


def test_sessions_show_keys_built_from_hostile_ids_as_written(
        log_with_hostile_chat: list[dict[str, object]],
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a session whose key holds a chat id with markup in it
    # When the sessions are listed
    status = main(["sessions"])
    # Then the key is shown as written, not as styling
    out = capsys.readouterr().out
    assert status == 0
    assert "chat=[red]c" in out
    assert_inert(out)


def test_ingest_rejection_report_escapes_what_the_line_held(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a line whose unknown field name is an escape sequence
    line = json.dumps({**event_dict(), "\x1b]0;owned\x07": "x"})
    source = tmp_path / "events.jsonl"
    source.write_text(line + "\n", encoding="utf-8")
    # When it is ingested
    status = main(["ingest", str(source)])
    # Then the rejection names the field with its escapes visible
    err = capsys.readouterr().err
    assert status == 1
    assert "line 1: [INVALID_EVENT] \\x1b]0;owned\\x07: is not a field" in err
    assert_inert(err)


@pytest.mark.parametrize(("content", "newlines", "shown"), [
    ("see [/] here", False, "see [/] here"),
    ("[bold]x[/bold] :smile:", False, "[bold]x[/bold] :smile:"),
    ("a\x1b[31mb", False, "a\\x1b[31mb"),
    ("bell\x07 del\x7f c1\x85 csi\x9b", False, "bell\\x07 del\\x7f c1\\x85 csi\\x9b"),
    ("rtl\u202eltr\u2066x\u2069", False, "rtl\\u202eltr\\u2066x\\u2069"),
    ("one\ntwo\r\n", False, "one\\x0atwo\\x0d\\x0a"),
    ("one\ntwo\r\n", True, "one\ntwo\\x0d\n"),
    ("tab\tstays, émoji 🙂 stays", False, "tab\tstays, émoji 🙂 stays"),
    (None, False, ""),
])
def test_plain_shows_content_as_written_with_controls_escaped(content: str | None,
                                                              newlines: bool, shown: str) -> None:
    text = plain(content, newlines=newlines)
    assert text.plain == shown == str(text)
    assert not text.spans  # no style came out of the content
