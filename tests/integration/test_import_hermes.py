"""`convlog import hermes`: state.db at an old and a current schema, JSONL transcripts,
compression chains (in DMs, per-user group chats, Discord threads, Slack workspace threads),
sender prefixes, naive times, a read-only SQLite."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from eventlog.events import Event
from eventlog.store import EventStore
from projections.gateways.hermes.config import convert
from projections.policy import load_policy
from projections.resolver import resolve
from tests.integration.gateway_stores import (
    COMPACTED,
    SLACK_THREAD_KEY,
    TG_GROUP_KEY,
    THREAD_KEY,
    hermes_store,
)
from tests.integration.import_helpers import by_session, fingerprint, imported, run_import
from workers.gateways.hermes.importer import read_store

DM = [("message.received", "hi there"), ("message.sent", "hello"),
      ("tool.used", "search({})"), ("tool.used", "found it"),
      ("message.received", "and now?"),
      ("summary.recorded", "[CONTEXT COMPACTION — REFERENCE ONLY] they greeted")]
GROUP = [("message.received", "[Alice] hi group"), ("message.received", "[Bob] hey"),
         ("message.sent", "hi both")]
# Chains in group chats: one history each, no reset between links, summaries recorded last
CHAINS = {
    TG_GROUP_KEY: [("message.received", "how do I deploy?"),
                   ("message.sent", "run the deploy script"),
                   ("message.received", "and roll back?"), ("message.sent", "run it with --undo"),
                   ("summary.recorded", COMPACTED + "Alice asked how to deploy")],
    THREAD_KEY: [("message.received", "[Bob] the build is red"), ("message.sent", "looking"),
                 ("message.received", "[Alice] it is the cache"),
                 ("message.received", "[Bob] cleared, green now"), ("message.sent", "great"),
                 ("summary.recorded", COMPACTED + "Bob reported a red build"),
                 ("summary.recorded", COMPACTED + "a red build, the cache")],
    SLACK_THREAD_KEY: [("message.received", "[Cleo] standup notes?"),
                       ("message.received", "[Cleo] thanks"),
                       ("summary.recorded", COMPACTED + "Cleo asked for notes")],
}
# Where each chain's every link is: (space, chat, chat_type, topic, sender of its users)
PLACES = {TG_GROUP_KEY: (None, "-1001234567890", "group", None, "42"),
          THREAD_KEY: ("guild-9", "c-7", "group", "t-9", "unknown"),
          SLACK_THREAD_KEY: ("T0TEAM", "C0GEN", "group", "1772359800.000100", "unknown")}


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
    assert report["round_trip"] == {"policy": "from-hermes", "gateway_sessions": 6,
                                    "reproduced": 6, "share": 1.0, "splits": [], "merges": []}
    assert report["summaries"]["recorded"] == 5
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


@pytest.mark.parametrize("current", [False, True], ids=["schema-11", "schema-30"])
def test_a_chain_in_a_group_chat_is_placed_in_its_chat_at_every_link(
        current: bool, tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given chains whose earlier links Hermes keeps without a key (only the newest session
    # of a key is in sessions.json; schema 11 has no key, chat or thread per row)
    root = hermes_store(tmp_path / "hermes", current=current)
    # When the store is imported
    status, report = run_import(capsys, "hermes", str(root))
    assert status == 0
    events = imported(store, "hermes")
    sessions = by_session(events)
    # Then each chain is one history, in order, with no reset between its links
    for key, expected in CHAINS.items():
        assert sessions[key] == expected, key
    # And every link of a chain is in the chain's chat (never a DM with one of its users)
    for key, (space, chat, chat_type, topic, sender) in PLACES.items():
        links = [e for e in events if e["meta"]["import"]["key"] == key
                 and e["type"] != "summary.recorded"]
        assert len({e["meta"]["import"]["session_id"] for e in links}) >= 2, key
        assert {(e.get("space"), e["chat"], e["chat_type"], e.get("topic")) for e in links} \
            == {(space, chat, chat_type, topic)}, key
        assert {e["sender"] for e in links if e["type"] == "message.received"} == {sender}
    # And the round trip reproduces every gateway session exactly
    assert report["round_trip"]["reproduced"] == report["round_trip"]["gateway_sessions"] == 6


@pytest.mark.parametrize("current", [False, True], ids=["schema-11", "schema-30"])
def test_imported_messages_render_the_hermes_key_they_came_from(
        current: bool, tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the store imported, and Hermes's default settings as a policy
    root = hermes_store(tmp_path / "hermes", current=current)
    run_import(capsys, "hermes", str(root))
    policy = load_policy(convert({}).policy)
    # When each message a user wrote in a DM or a chain is resolved under that policy
    keys = {"agent:main:telegram:dm:99", *CHAINS}
    rendered: dict[str, set[str | None]] = {}
    for payload in imported(store, "hermes"):
        key = payload["meta"]["import"]["key"]
        if payload["type"] == "message.received" and key in keys:
            rendered.setdefault(key, set()).add(
                resolve(Event.model_validate(payload), policy).legacy.get("hermes"))
    # Then the Hermes key convlog renders for it is the key Hermes stored it under
    assert rendered == {key: {key} for key in keys}


def test_a_shared_topic_key_names_its_thread_not_a_user(tmp_path: Path) -> None:
    # Given a Telegram forum topic Hermes keyed with shared groups (chat:thread), its
    # origin naming the thread, and a per-user group key of the same shape beside it
    root = tmp_path / "hermes"
    (root / "sessions").mkdir(parents=True)
    topic, user = "agent:main:telegram:group:-100777:17585", "agent:main:telegram:group:-100777:42"
    origin = {"platform": "telegram", "chat_id": "-100777", "chat_type": "group"}
    index = {topic: {"session_key": topic, "session_id": "a",
                     "origin": {**origin, "thread_id": "17585", "user_id": "42"}},
             user: {"session_key": user, "session_id": "b",
                    "origin": {**origin, "user_id": "42"}}}
    (root / "sessions" / "sessions.json").write_text(json.dumps(index), encoding="utf-8")
    # When the store is read
    read = read_store(root, None, UTC)
    places = {s.key: (s.address.topic, s.address.peer) for s in read.sessions}
    # Then the topic key's last part is its thread (no one's session), the other's a user
    assert places == {topic: ("17585", None), user: (None, "42")}
