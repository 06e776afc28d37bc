"""`convlog policy convert --from openclaw|hermes|picoclaw CONFIG`: policies and warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from projections.policy import load_policy
from workers.cli.main import main


def convert(tmp_path: Path, capsys: pytest.CaptureFixture[str], gateway: str, text: str,
            name: str = "config") -> dict[str, Any]:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["policy", "convert", "--from", gateway, str(file), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(w["code"], w["setting"]) for w in result["warnings"]]


def test_openclaw_json5_session_block_converts_with_a_warning_per_lost_setting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an OpenClaw config in JSON5 (comments, trailing commas, unquoted keys)
    text = """{
      // OpenClaw's own config
      session: {dmScope: 'per-channel-peer', mainKey: 'Home',
                identityLinks: {alice: ['telegram:111', 'discord:222']},
                reset: {mode: 'daily', atHour: 5}, resetTriggers: ['/new'],
                resetByType: {group: {mode: 'idle'}}, typingMode: 'instant',},
      bindings: [{agentId: 'support', match: {channel: 'slack'}}],
    }"""
    # When it is converted
    result = convert(tmp_path, capsys, "openclaw", text, "openclaw.json")
    # Then the grouping settings carry over and the policy is valid
    policy = result["policy"]
    assert policy["dm_scope"] == "per-channel-peer"
    assert policy["identity_links"] == {"alice": ["telegram:111", "discord:222"]}
    assert policy["reset"] == {"mode": "daily", "at_hour": 5, "triggers": ["/new"]}
    assert policy["gateways"] == {"openclaw": {"main_key": "home"}}
    load_policy(policy)
    # And every setting without an equivalent is warned about, with its code and path
    assert codes(result) == [
        ("RESET_TIME_ZONE", "session.reset.atHour"),
        ("NO_EQUIVALENT", "session.resetByType"), ("NO_EQUIVALENT", "session.typingMode"),
        ("AGENT_ROUTING", "bindings")]


def test_openclaw_defaults_to_its_own_main_dm_scope(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    result = convert(tmp_path, capsys, "openclaw", "{}")
    assert result["policy"]["dm_scope"] == "main"
    assert result["policy"]["account_dm_scopes"] == {"telegram:*": "per-account-channel-peer"}


@pytest.mark.parametrize(("settings", "dimensions", "threads"), [
    ("{}", ["chat", "sender"], {"per_sender": False}),
    ("group_sessions_per_user: false", ["chat"], None),
    ("thread_sessions_per_user: true", ["chat", "sender"], None),
    ("gateway:\n  group_sessions_per_user: false\n  thread_sessions_per_user: true",
     ["chat"], {"per_sender": True}),
])
def test_hermes_per_user_switches_become_dimensions_and_thread_splitting(
        settings: str, dimensions: list[str], threads: dict[str, Any] | None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # When Hermes's YAML settings are converted
    policy = convert(tmp_path, capsys, "hermes", settings, "config.yaml")["policy"]
    # Then groups split by sender as Hermes does, threads as thread_sessions_per_user says
    assert policy["dimensions"] == dimensions
    assert policy.get("threads") == threads
    assert policy["reset"] == {"mode": "both", "at_hour": 4, "idle_minutes": 1440}


def test_hermes_accepts_json_and_warns_about_per_type_resets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps({"session_reset": {"mode": "idle", "idle_minutes": 30},
                       "reset_by_type": {"thread": {"mode": "none"}}})
    result = convert(tmp_path, capsys, "hermes", text, "gateway.json")
    assert result["policy"]["reset"] == {"mode": "idle", "at_hour": 4, "idle_minutes": 30}
    assert ("NO_EQUIVALENT", "reset_by_type") in codes(result)


def test_picoclaw_dimensions_links_and_dispatch_rules(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # Given PicoClaw's config with a dispatch rule that gives a group per-user sessions
    config = {"agents": {"dispatch": {"rules": [
        {"name": "support group", "agent": "support",
         "when": {"channel": "telegram", "chat": "group:-1001234567890"},
         "session_dimensions": ["chat", "sender"]}]}},
        "session": {"dimensions": ["chat"], "identity_links": {"john": ["telegram:1"]}}}
    # When it is converted
    result = convert(tmp_path, capsys, "picoclaw", json.dumps(config), "config.json")
    # Then the rule keeps its dimensions, its agent routing is warned about
    assert result["policy"]["rules"] == [{"name": "support group", "when": {
        "platform": "telegram", "chat": "group:-1001234567890"},
        "dimensions": ["chat", "sender"]}]
    assert result["policy"]["identity_links"] == {"john": ["telegram:1"]}
    assert ("AGENT_ROUTING", "agents.dispatch.rules[0].agent") in codes(result)
    load_policy(result["policy"])


def test_text_output_is_a_policy_on_stdout_and_warnings_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("reset_by_platform: {slack: {mode: none}}\n", encoding="utf-8")
    assert main(["policy", "convert", "--from", "hermes", str(file)]) == 0
    out, err = capsys.readouterr()
    assert load_policy(json.loads(out)).dimensions == ("chat", "sender")
    assert "warning NO_EQUIVALENT at reset_by_platform" in err


@pytest.mark.parametrize(("text", "code"), [("{session: ", "CONFIG_NOT_PARSED"),
                                            ("[1, 2]", "INVALID_CONFIG")])
def test_unreadable_configs_are_one_coded_error(text: str, code: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "openclaw.json"
    file.write_text(text, encoding="utf-8")
    assert main(["policy", "convert", "--from", "openclaw", str(file)]) == 2
    assert f"[{code}]" in capsys.readouterr().err
    assert main(["policy", "convert", "--from", "openclaw", str(tmp_path / "none")]) == 2
    assert "[CONFIG_NOT_FOUND]" in capsys.readouterr().err
