"""`convlog import hermes`: state.db at an old and a current schema, JSONL transcripts,
compression chains, sender prefixes, naive times, a read-only SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlog.store import EventStore
from tests.integration.gateway_stores import hermes_store
from tests.integration.import_helpers import by_session, fingerprint, imported, run_import

DM = [("message.received", "hi there"), ("message.sent", "hello"),
      ("tool.used", "search({})"), ("tool.used", "found it"),
      ("message.received", "and now?"),
      ("summary.recorded", "[CONTEXT COMPACTION — REFERENCE ONLY] they greeted")]
GROUP = [("message.received", "[Alice] hi group"), ("message.received", "[Bob] hey"),
         ("message.sent", "hi both")]


@pytest.mark.parametrize("current", [False, True], ids=["schema-11", "schema-30"])
def test_hermes_state_db_imports_at_every_schema(
        current: bool, tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Hermes home with a compression chain, a shared group and a JSONL-only session
    root = hermes_store(tmp_path / "hermes", current=current)
    before = fingerprint(root)
    # When it is imported
    status, report = run_import(capsys, "hermes", str(root))
    # Then the chain is one history (no reset between its sessions) with its summary
    assert status == 0
    events = imported(store, "hermes")
    sessions = by_session(events)
    assert sessions["agent:main:telegram:dm:99"] == DM
    assert sessions["agent:main:discord:group:g-1"] == GROUP
    assert sessions["agent:main:slack:dm:D1"] == [
        ("message.received", "naive time question"), ("message.sent", "answer")]
    # And the group's only per-message sender is its [name] prefix
    names = [e.get("sender_name") for e in events if e.get("chat") == "g-1"
             and e["type"] == "message.received"]
    assert names == ["Alice", "Bob"]
    # And the platform message ids of the current schema are kept, the old one has none
    first = next(e for e in events if e["text"] == "hi there")
    assert (first["message_id"] == "501") is current
    # And naive JSONL times were read in the given zone and the report says so
    assert report["times_without_zone"] == 2 and report["timezone"] == "UTC"
    assert report["round_trip"]["share"] == 1.0
    assert report["summaries"]["recorded"] == 1
    # And state.db was opened read-only: no byte changed, no -wal or -shm appeared
    assert fingerprint(root) == before


def test_a_corrupt_state_db_is_reported_and_the_rest_imports(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Hermes home whose state.db is not a database
    root = hermes_store(tmp_path / "hermes", current=True)
    (root / "state.db").write_bytes(b"this is not sqlite" * 100)
    # When it is imported
    status, report = run_import(capsys, "hermes", str(root))
    # Then the problem is reported (once: the store is there, just unreadable), the import
    # exits 1 as a partial one, and the sessions the index and transcripts hold import
    assert status == 1
    assert [p["problem"] for p in report["problems"]
            if "state.db" in p["problem"] or "SQLite" in p["problem"]] == [
        next(p["problem"] for p in report["problems"] if "SQLite" in p["problem"])]
    assert "agent:main:slack:dm:D1" in by_session(imported(store, "hermes"))


def test_a_second_hermes_import_appends_nothing(tmp_path: Path, store: EventStore,
                                                cli_env: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = hermes_store(tmp_path / "hermes", current=True)
    _, first = run_import(capsys, "hermes", str(root))
    _, again = run_import(capsys, "hermes", str(root))
    assert again["messages"]["appended"] == 0
    assert again["messages"]["duplicates"] == first["messages"]["appended"]
