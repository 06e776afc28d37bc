"""`convlog import openclaw`: what the text and address of an imported message keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventlog.store import EventStore
from tests.integration.gateway_stores import INBOUND, T0, iso
from tests.integration.import_helpers import imported, run_import


def _store(root: Path, index: dict[str, Any], transcripts: dict[str, str]) -> Path:
    sessions = root / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "sessions.json").write_text(json.dumps(index), encoding="utf-8")
    for name, text in transcripts.items():
        (sessions / name).write_text(text, encoding="utf-8")
    return root


def _transcript(sid: str, *texts: str) -> str:
    lines = [{"type": "session", "version": 3, "id": sid, "timestamp": iso(0), "cwd": "/w"}]
    parent = None
    for index, text in enumerate(texts, start=1):
        entry_id = f"{sid}-{index}"
        lines.append({"type": "message", "id": entry_id, "parentId": parent,
                      "timestamp": iso(index),
                      "message": {"role": "user", "content": text}})
        parent = entry_id
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_the_time_envelope_of_a_dm_is_stripped_and_the_rest_of_the_text_kept(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given DM texts as OpenClaw stores them: a `[Ddd YYYY-MM-DD HH:MM TZ] ` prefix before
    # the text, after the metadata block, and a bracket of the user's own that is no envelope
    index = {"agent:main:main": {"sessionId": "s-dm", "updatedAt": T0 * 1000,
                                 "chatType": "direct", "origin": {"provider": "telegram"}}}
    root = _store(tmp_path / "openclaw", index, {"s-dm.jsonl": _transcript(
        "s-dm", "[Sun 2026-03-01 11:00 UTC] hello  there [Sun 2026-03-01 11:00 UTC]",
        INBOUND + "[Sun 2026-03-01 11:01 GMT+1] with metadata",
        "[note] keep my brackets", "[Sun 2026-03-01 11:02 UTC]\nline two")})
    # When it is imported
    status, _ = run_import(capsys, "openclaw", str(root))
    # Then exactly that prefix is gone and the text is otherwise as written
    assert status == 0
    texts = [e["text"] for e in imported(store, "openclaw")]
    assert texts == ["hello  there [Sun 2026-03-01 11:00 UTC]", "with metadata",
                     "[note] keep my brackets", "line two"]


def test_a_malformed_last_line_ending_in_a_newline_is_not_called_truncated(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given one transcript whose last line is broken but ends in a newline, and one whose
    # last line stops mid-way with no newline after it
    index = {"agent:main:slack:channel:c1": {"sessionId": "s-bad", "updatedAt": T0 * 1000},
             "agent:main:slack:channel:c2": {"sessionId": "s-cut", "updatedAt": T0 * 1000}}
    good = _transcript("s-bad", "fine")
    root = _store(tmp_path / "openclaw", index, {
        "s-bad.jsonl": good + "{not json at all}\n",
        "s-cut.jsonl": _transcript("s-cut", "fine") + '{"type": "message", "id": "x'})
    # When it is imported
    status, report = run_import(capsys, "openclaw", str(root))
    # Then the first is a malformed line and only the second is truncated
    assert status == 1
    problems = {Path(p["path"]).name: p["problem"] for p in report["problems"]}
    assert problems["s-bad.jsonl"] == "line 3: not JSON; the line was skipped"
    assert problems["s-cut.jsonl"] == ("line 3: truncated (the file ends mid-line); "
                                       "the line was skipped")


def test_a_matrix_dm_keyed_by_its_room_is_imported_as_a_dm(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Matrix DM under dm.sessionScope per-room (openclaw extensions/matrix/src/
    # matrix/monitor/handler.test.ts): keyed by its room as a channel, its entry direct
    key = "agent:main:matrix:channel:!dm:example.org"
    index = {key: {"sessionId": "s-room", "updatedAt": T0 * 1000, "chatType": "direct",
                   "origin": {"provider": "matrix", "chatType": "direct",
                              "nativeDirectUserId": "@alice:example.org",
                              "nativeChannelId": "!dm:example.org"}}}
    root = _store(tmp_path / "openclaw", index, {"s-room.jsonl": _transcript("s-room", "hi")})
    # When it is imported
    status, _ = run_import(capsys, "openclaw", str(root))
    # Then its message is a DM in that room from its peer, with the gateway's key kept
    assert status == 0
    event = imported(store, "openclaw")[0]
    assert (event["platform"], event["chat_type"], event["chat"], event["sender"]) == (
        "matrix", "dm", "!dm:example.org", "@alice:example.org")
    assert event["meta"]["import"]["key"] == key
