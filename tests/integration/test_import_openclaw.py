"""`convlog import openclaw`: transcripts v1-v3, branches, compaction, metadata, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from tests.integration.gateway_stores import openclaw_store
from tests.integration.import_helpers import by_session, fingerprint, imported, run_import
from workers.cli.main import main


def test_openclaw_store_imports_every_version_and_reports_what_it_could_not(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given an OpenClaw state dir with v1, v2 and v3 transcripts (the v1 one truncated)
    root = openclaw_store(tmp_path / "openclaw")
    before = fingerprint(root)
    # When it is imported
    status, report = run_import(capsys, "openclaw", str(root))
    # Then every session's active branch is in the log, in order, with its key in meta (the
    # store's damaged lines make it a partial import: exit 1, each line reported)
    assert status == 1 and report["problems"]
    # (each archived epoch of a key first, then a reset, then the key's live transcript)
    sessions = by_session(imported(store, "openclaw"))
    assert sessions["agent:main:main"] == [
        ("message.received", "before the reset"), ("message.sent", "noted"),
        ("session.reset", ""),
        ("message.received", "what's the weather?"), ("message.sent", "Checking."),
        ("tool.used", 'weather({"city": "Oslo"})'), ("tool.used", "rain"),
        ("message.sent", "It rains."), ("message.received", "thanks"),
        ("summary.recorded", "Alice asked about Oslo weather: rain.")]
    assert sessions["agent:main:discord:channel:c1"] == [
        ("message.received", "before the channel was cleared"), ("session.reset", ""),
        ("message.received", "hello channel"), ("message.sent", "hi all")]
    assert sessions["agent:main:slack:channel:c9"] == [
        ("message.received", "v1 question"), ("message.sent", "v1 answer")]
    assert sessions["agent:main:telegram:group:-1001:topic:7"] == [
        ("message.received", "an older topic question"), ("session.reset", ""),
        ("message.received", "in the topic")]
    # And the untrusted metadata block gave the first message its sender and message id
    first = next(e for e in imported(store, "openclaw")
                 if e["meta"]["import"].get("entry_id") == "a1")
    assert (first["sender"], first["sender_name"], first["message_id"]) == ("42", "Alice", "1001")
    assert (first["platform"], first["chat_type"], first["chat"]) == ("telegram", "dm", "42")
    assert first["meta"]["import"]["session_id"] == "s-main"
    assert first["meta"]["import"]["entry_id"] == "a1"
    # And the report counts what was left out and why, and the truncated line
    assert report["sessions"] == {"read": 7, "imported": 7, "skipped": {}}
    assert report["messages"]["skipped"] == {"entries on abandoned branches": 1,
                                             "hookMessage messages": 1,
                                             "model_change entries": 1}
    assert report["summaries"]["recorded"] == 1
    assert any("line 4: truncated" in p["problem"] for p in report["problems"])
    assert report["round_trip"]["gateway_sessions"] == 4
    assert report["round_trip"]["reproduced"] == 4
    # And the store is exactly as it was
    assert fingerprint(root) == before


def test_a_second_import_appends_nothing_and_a_grown_store_only_what_is_new(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given an imported store
    root = openclaw_store(tmp_path / "openclaw")
    _, first = run_import(capsys, "openclaw", str(root))
    # When it is imported again
    _, again = run_import(capsys, "openclaw", str(root))
    # Then nothing is appended
    assert again["messages"]["appended"] == 0
    assert again["messages"]["duplicates"] == first["messages"]["appended"]
    # When the gateway appends one more message and the store is imported a third time
    transcript = root / "agents" / "main" / "sessions" / "s-v2.jsonl"
    with transcript.open("a", encoding="utf-8") as file:
        file.write(json.dumps({"type": "message", "id": "b4", "parentId": "b3",
                               "timestamp": "2026-03-01T11:00:00Z",
                               "message": {"role": "user", "content": "one more"}}) + "\n")
    _, grown = run_import(capsys, "openclaw", str(root))
    # Then only that message is new
    assert grown["messages"]["appended"] == 1


def test_an_epoch_imported_before_its_archive_was_tied_to_its_key_is_not_reset_after(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the DM imported while its /reset archive was tied to no key (its entry had no
    # usage lineage yet): the archive under its own id, the live transcript with no reset
    root = openclaw_store(tmp_path / "openclaw")
    index_file = root / "agents" / "main" / "sessions" / "sessions.json"
    full = index_file.read_text(encoding="utf-8")
    index = json.loads(full)
    del index["agent:main:main"]["usageFamilySessionIds"]
    index_file.write_text(json.dumps(index), encoding="utf-8")
    run_import(capsys, "openclaw", str(root))
    # When the store is imported again with the lineage that ties the archive to the DM
    index_file.write_text(full, encoding="utf-8")
    _, again = run_import(capsys, "openclaw", str(root))
    # Then nothing is appended: a reset now would land after the DM's messages and cut
    # the live conversation off; the report says it was left out
    assert again["messages"]["appended"] == 0
    assert again["messages"]["skipped"]["resets of epochs already in the log"] == 1
    assert [e["type"] for e in imported(store, "openclaw")
            if e["meta"]["import"]["key"] == "agent:main:main"].count("session.reset") == 0


def test_dry_run_appends_nothing(tmp_path: Path, store: EventStore, cli_env: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = openclaw_store(tmp_path / "openclaw")
    status, report = run_import(capsys, "openclaw", str(root), "--dry-run")
    assert status == 1 and report["problems"] and report["dry_run"]
    assert report["messages"]["appended"] == 18  # 15 entries, 3 resets between epochs
    assert imported(store, "openclaw") == []


def test_an_imported_key_resolves_back_to_its_session(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given an imported store, projected by the active projection
    root = openclaw_store(tmp_path / "openclaw")
    run_import(capsys, "openclaw", str(root))
    assert main(["catch-up"]) == 0
    capsys.readouterr()
    # When the gateway's key of the Slack chat is resolved
    assert main(["resolve", "--key", "agent:main:slack:channel:c9", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    # Then it names the chat, and the session holding its imported messages carries the key
    reading = answer["readings"][0]
    assert (reading["parsed"]["platform"], reading["parsed"]["chat"]) == ("slack", "c9")
    assert [s["messages"] for s in answer["sessions_with_key"]] == [2]
    assert answer["imported"][0]["address"]["chat"] == "c9"


def test_a_missing_store_is_one_clear_error(tmp_path: Path, cli_env: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "openclaw", str(tmp_path / "nope")]) == 2
    assert "STORE_NOT_FOUND" in capsys.readouterr().err


def test_a_store_named_by_a_relative_path_reads_the_same(
        tmp_path: Path, cli_env: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the test store, named relative to the working directory
    openclaw_store(tmp_path / "openclaw")
    monkeypatch.chdir(tmp_path)
    # When it is read
    _, report = run_import(capsys, "openclaw", "openclaw", "--dry-run")
    # Then every live transcript is found beside its entry (none is taken for an orphan)
    assert report["sessions"]["imported"] == 7
    assert report["round_trip"]["share"] == 1.0
    assert not any("tied to no session key" in note for note in report["notes"])
