"""`convlog import picoclaw`: JSONL with meta (scope, aliases, summary, skip), legacy .json,
a corrupt meta file, and opaque keys resolved through the recorded scopes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from projections.gateways.picoclaw.keys import Scope
from tests.integration.gateway_stores import picoclaw_store
from tests.integration.import_helpers import by_session, fingerprint, imported, run_import
from workers.cli.main import main

TOPIC_KEY = Scope("main", "telegram", "default", ("chat",),
                  {"chat": "group:-1001234567890/42"}).key()


def test_picoclaw_workspace_imports_with_scopes_summaries_and_legacy_files(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a PicoClaw workspace
    root = picoclaw_store(tmp_path / "workspace")
    before = fingerprint(root)
    # When it is imported
    status, report = run_import(capsys, "picoclaw", str(root))
    # Then the topic session's address comes from its scope, its summary after `skip` lines
    # (the store's damaged file makes it a partial import: exit 1, the file reported)
    assert status == 1 and report["problems"]
    events = imported(store, "picoclaw")
    sessions = by_session(events)
    assert sessions[TOPIC_KEY] == [
        ("message.received", "old 1"), ("message.sent", "old 2"),
        ("message.received", "new question"), ("tool.used", 'exec({"cmd": "ls"})'),
        ("tool.used", "a b"), ("message.sent", "done"),
        ("summary.recorded", "they said old things")]
    topic = next(e for e in events if e["text"] == "new question")
    assert (topic["platform"], topic["chat"], topic["topic"]) == (
        "telegram", "-1001234567890", "42")
    # And the legacy .json session imports under its readable key, as a DM with 555
    legacy = next(e for e in events if e["text"] == "legacy hello")
    assert (legacy["chat_type"], legacy["chat"], legacy["sender"]) == ("dm", "555", "555")
    # And the corrupt meta file is reported while its messages still import
    assert any("broken.meta.json" in p["path"] for p in report["problems"])
    assert sessions["broken"] == [("message.received", "orphan line")]
    # And a second run appends nothing; the workspace is untouched
    _, again = run_import(capsys, "picoclaw", str(root))
    assert again["messages"]["appended"] == 0
    assert fingerprint(root) == before


def test_an_opaque_key_resolves_through_the_imported_scope(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given an imported PicoClaw workspace
    run_import(capsys, "picoclaw", str(picoclaw_store(tmp_path / "workspace")))
    capsys.readouterr()
    # When its opaque topic key is resolved in the active projection
    assert main(["resolve", "--key", TOPIC_KEY, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    # Then the hash is recognised and the recorded scope names the chat and topic
    assert answer["readings"][0]["parsed"]["opaque"] is True
    address = answer["imported"][0]["address"]
    assert (address["chat"], address["topic"]) == ("-1001234567890", "42")
    assert answer["imported"][0]["session"]["is_thread"] is True
    # And beside the key is the scope it is the hash of, as the meta file recorded it
    scope = answer["readings"][0]["scope"]
    assert (scope["version"], scope["dimensions"], scope["values"]) == (
        1, ["chat"], {"chat": "group:-1001234567890/42"})
