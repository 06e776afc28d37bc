"""`convlog import picoclaw`: JSONL with meta (scope, aliases, summary, skip), legacy .json,
a corrupt meta file, the store's quirks, opaque keys resolved through the recorded scopes,
and the round trip under PicoClaw's own config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from projections.gateways.picoclaw.keys import Scope
from tests.integration.gateway_stores import PICO_CHANNEL, picoclaw_store
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
    # And so is the line a crash cut short, by its line number; nothing was rejected
    assert any(p["path"].endswith(f"{TOPIC_KEY}.jsonl") and p["problem"].startswith(
        "line 3: not JSON") for p in report["problems"])
    assert report["messages"]["rejected"] == {}
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


def _context(capsys: pytest.CaptureFixture[str], key: str) -> list[str]:
    """The texts of the context of the session the active projection gives `key` (a tool
    step's call, rendered without text, left out)."""
    capsys.readouterr()
    assert main(["resolve", "--key", key, "--json"]) == 0
    session = json.loads(capsys.readouterr().out)["imported"][0]["session"]["session_id"]
    assert main(["context", str(session), "--json"]) == 0
    messages = json.loads(capsys.readouterr().out)["messages"]
    return [m["content"] for m in messages if m["content"] is not None]


def test_the_store_round_trips_whole_under_picoclaws_own_config_quirks_and_all(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a PicoClaw home: the workspace with every quirk of the store, and the config
    # whose dispatch rule split one Discord channel per user
    root = picoclaw_store(tmp_path / "workspace")
    config = str(tmp_path / "config.json")
    # When it is imported with that config
    _, report = run_import(capsys, "picoclaw", str(root), "--config", config)
    # Then the gateway's grouping gives back every one of its sessions
    trip = report["round_trip"]
    assert trip["policy"] == "from-picoclaw"
    assert trip["gateway_sessions"] == trip["reproduced"] == 8
    assert (trip["share"], trip["splits"], trip["merges"]) == (1.0, [], [])
    # And the per-user sessions keep their author; the one whose meta has Go's zero time
    # for created_at takes its updated_at instead (nothing rejected as out of range)
    events = imported(store, "picoclaw")
    asks = {e["text"]: e for e in events if e["text"].endswith(" asks")}
    assert {(e["chat"], e["sender"]) for e in asks.values()} == {
        (PICO_CHANNEL, "alice"), (PICO_CHANNEL, "bob")}
    assert asks["bob asks"]["occurred_at"].startswith("2026-03-01T10:01:31")
    # And the JSONL without a meta file is under its readable key, a DM with 777
    no_meta = next(e for e in events if e["text"] == "no meta file")
    assert no_meta["meta"]["import"]["key"] == "agent:main:telegram:direct:777"
    assert (no_meta["platform"], no_meta["chat_type"], no_meta["chat"]) == (
        "telegram", "dm", "777")
    assert any("no meta file; its key 'agent:main:telegram:direct:777' was read back" in n
               for n in report["notes"])
    # And the Slack ids PicoClaw lower-cased are named as such in the report
    assert any(n.startswith("1 session(s) have ids with letters") for n in report["notes"])
    # And the summary sits where `skip` puts it, counting the damaged line as PicoClaw
    # does: the topic's context is the summary and what came after the skipped lines
    assert main(["catch-up"]) == 0
    assert _context(capsys, TOPIC_KEY) == [
        "they said old things", "new question", 'exec({"cmd": "ls"})', "a b", "done"]


def test_without_the_config_the_round_trip_names_the_sessions_it_merges(
        tmp_path: Path, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the same store, imported without PicoClaw's config (its defaults: per chat)
    root = picoclaw_store(tmp_path / "workspace")
    _, report = run_import(capsys, "picoclaw", str(root), "--dry-run")
    # Then the per-user sessions of the Discord channel are the one merge named
    trip = report["round_trip"]
    assert (trip["gateway_sessions"], trip["reproduced"]) == (8, 6)
    alice, bob = (Scope("main", "discord", "default", ("chat", "sender"),
                        {"chat": f"channel:{PICO_CHANNEL}", "sender": who}).key()
                  for who in ("alice", "bob"))
    assert [m["gateway_keys"] for m in trip["merges"]] == [sorted([alice, bob])]


def test_a_named_agents_workspace_names_the_agent_of_sessions_without_a_scope(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the workspace of PicoClaw's agent "support" (`workspace-support`), holding a
    # session without a scope or a readable key
    folder = tmp_path / "workspace-support" / "sessions"
    folder.mkdir(parents=True)
    (folder / "cli.jsonl").write_text(json.dumps({"role": "user", "content": "from cli",
                                                  "created_at": "2026-03-01T10:00:00Z"})
                                      + "\n", encoding="utf-8")
    # When it is imported
    run_import(capsys, "picoclaw", str(tmp_path / "workspace-support"))
    # Then its messages are the support agent's
    assert [e["agent"] for e in imported(store, "picoclaw")] == ["support"]
