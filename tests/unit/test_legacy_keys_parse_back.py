"""`convlog resolve --key`: a gateway's key read back and mapped to a convlog session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.events import Event
from projections.gateways.picoclaw.keys import opaque_key
from projections.legacy_keys import interpret_key
from projections.policy import load_policy
from projections.resolver import resolve
from workers.cli.main import main

OPENCLAW_DEFAULTS = {"dm_scope": "main",
                     "account_dm_scopes": {"telegram:*": "per-account-channel-peer"}}


def test_a_key_the_policy_renders_maps_back_to_the_same_session() -> None:
    # Given OpenClaw's default grouping and a forum topic message
    policy = load_policy(OPENCLAW_DEFAULTS)
    event = Event.model_validate({
        "type": "message.received", "agent": "main", "platform": "telegram",
        "chat": "-1001234567890", "chat_type": "group", "topic": "99", "sender": "42",
        "message_id": "1", "text": "hi", "occurred_at": "2026-03-01T12:00:00Z"})
    rendered = resolve(event, policy)
    # When its OpenClaw key is read back
    readings = interpret_key(rendered.legacy["openclaw"], policy)
    # Then the first reading names the chat and topic and lands in that very session
    first = readings[0]
    assert (first.parsed.chat, first.parsed.topic) == ("-1001234567890", "99")
    assert first.renders_back and first.resolution is not None
    assert first.resolution.session_id == rendered.session_id


def test_a_key_the_policy_groups_otherwise_is_said_to_differ() -> None:
    # Given a per-channel-peer policy and OpenClaw's main DM key
    readings = interpret_key("agent:main:main", load_policy({}))
    # Then it is read as every DM of the agent, which this policy does not merge
    assert readings[0].parsed.scope == "main"
    assert not readings[0].renders_back


def test_hermes_and_openclaw_readings_of_one_shape_are_both_offered() -> None:
    readings = interpret_key("agent:main:discord:group:guild-123",
                             load_policy({"dimensions": ["chat"]}))
    assert {r.parsed.gateway for r in readings} == {"openclaw", "hermes"}
    assert all(r.renders_back for r in readings)


def test_resolve_key_on_the_command_line_with_a_policy(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # Given Hermes's default grouping as a policy file
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"dimensions": ["chat", "sender"],
                                  "threads": {"per_sender": False}}), encoding="utf-8")
    # When a Hermes per-user key is resolved
    assert main(["resolve", "--key", "agent:main:telegram:group:-100:alice", "--gateway",
                 "hermes", "--policy", str(policy)]) == 0
    out = capsys.readouterr().out
    # Then the chat, the sender and the convlog session are shown
    assert "chat      -100" in out and "sender    alice" in out
    assert "renders   this very key" in out


def test_an_opaque_key_needs_the_imported_scopes(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text("{}", encoding="utf-8")
    assert main(["resolve", "--key", opaque_key("agent:main:main"), "--policy", str(policy),
                 "--json"]) == 0
    reading = json.loads(capsys.readouterr().out)["readings"][0]
    assert reading["parsed"]["opaque"] and reading["session"] is None


def test_a_key_of_no_gateway_is_one_coded_error(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text("{}", encoding="utf-8")
    assert main(["resolve", "--key", "hello", "--policy", str(policy)]) == 2
    assert "[UNKNOWN_LEGACY_KEY]" in capsys.readouterr().err


def test_threads_per_sender_and_account_dm_scopes_change_grouping_as_said() -> None:
    # Given Hermes's defaults: per-user groups, shared threads
    policy = load_policy({"dimensions": ["chat", "sender"], "threads": {"per_sender": False},
                          "dm_scope": "main",
                          "account_dm_scopes": {"telegram:*": "per-account-channel-peer"}})
    base = {"type": "message.received", "agent": "main", "platform": "telegram",
            "chat_type": "group", "chat": "-100", "message_id": "1", "text": "x",
            "occurred_at": "2026-03-01T12:00:00Z"}
    alice = resolve(Event.model_validate({**base, "topic": "5", "sender": "alice"}), policy)
    bob = resolve(Event.model_validate({**base, "topic": "5", "sender": "bob"}), policy)
    # Then a thread is shared by its senders while the chat itself is not
    assert alice.key == bob.key
    assert resolve(Event.model_validate({**base, "sender": "alice"}), policy).key != resolve(
        Event.model_validate({**base, "sender": "bob"}), policy).key
    # And a named account's DMs are per account while the default account's merge
    dm = {**base, "chat_type": "dm", "chat": "7", "sender": "7"}
    named = resolve(Event.model_validate({**dm, "account": "atlas"}), policy)
    default = resolve(Event.model_validate(dm), policy)
    assert named.key != default.key and default.key == "agent=main/dm=main"
    assert any("account_dm_scopes" in reason for reason in named.reasons)
