"""Every policy diagnostic code, each with the exact input that triggers it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from eventlog.errors import ConvlogError
from projections.errors import Diagnostic, PolicyError
from projections.policy import (
    Policy,
    check_policy,
    load_policy,
    read_policy_file,
)
from tests.fixtures.profiles import examples
from workers.cli.main import main

SPACE = "discord:1234567890"

# code, severity, path, the policy that triggers it
CASES: list[tuple[str, str, str, Any]] = [
    ("INVALID_POLICY", "error", "policy", ["chat"]),
    ("UNKNOWN_KEY", "error", "sessionScope", {"sessionScope": "guild"}),
    ("UNKNOWN_KEY", "error", "session", {"session": {"dimensions": ["chat"]}}),
    ("INVALID_NAME", "error", "name", {"name": ""}),
    ("UNKNOWN_DIMENSION", "error", "dimensions[1]", {"dimensions": ["chat", "guild"]}),
    ("UNKNOWN_DIMENSION", "error", "rules[0].dimensions[0]",
     {"rules": [{"name": "r", "when": {"agent": "a"}, "dimensions": ["user"]}]}),
    ("INVALID_DIMENSIONS", "error", "dimensions", {"dimensions": "chat"}),
    ("DUPLICATE_DIMENSION", "error", "dimensions[1]", {"dimensions": ["chat", "chat"]}),
    ("DUPLICATE_DIMENSION", "error", "rules[0].dimensions[1]",
     {"rules": [{"name": "r", "when": {"agent": "a"}, "dimensions": ["sender", "sender"]}]}),
    ("INVALID_DM_SCOPE", "error", "dm_scope", {"dm_scope": "global"}),
    ("INVALID_IDENTITY_LINK", "error", 'identity_links["john"]', {"identity_links": {"john": []}}),
    ("IDENTITY_LINK_OVERLAP", "error", 'identity_links["jane"][0]',
     {"identity_links": {"john": ["telegram:42"], "jane": ["telegram:42"]}}),
    ("IDENTITY_LINK_OVERLAP", "error", 'identity_links["john"][0]',
     {"identity_links": {"john": ["slack:U1"], "jane": ["U1"]}}),
    ("INVALID_CHANNEL_GROUP", "error", 'channel_groups["studio"][0]',
     {"channel_groups": {"studio": ["123"]}}),
    ("INVALID_CHANNEL_GROUP", "error", 'channel_groups["studio"]',
     {"channel_groups": {"studio": []}}),
    ("CHANNEL_GROUP_OVERLAP", "error", 'channel_groups["eng"][0]',
     {"channel_groups": {"studio": ["discord:1"], "eng": ["discord:channel:1"]}}),
    ("PRIVACY_ZONE_GROUPED", "error", f'spaces["{SPACE}"].privacy_zones[0]',
     {"channel_groups": {"studio": ["discord:9"]}, "spaces": {SPACE: {"privacy_zones": ["9"]}}}),
    ("INVALID_SPACE", "error", 'spaces["1234567890"]', {"spaces": {"1234567890": {}}}),
    ("INVALID_SPACE", "error", f'spaces["{SPACE}"].privacy_zones',
     {"spaces": {SPACE: {"privacy_zones": "9"}}}),
    ("INVALID_SESSION_SCOPE", "error", f'spaces["{SPACE}"].session_scope',
     {"spaces": {SPACE: {"session_scope": "server"}}}),
    ("INVALID_SESSION_SCOPE", "error", f'spaces["{SPACE}"].channels["3"].session_scope',
     {"spaces": {SPACE: {"channels": {"3": {"session_scope": "global"}}}}}),
    ("CHANNEL_OVERRIDE_INVALID", "error", f'spaces["{SPACE}"].channels["3"].requireMention',
     {"spaces": {SPACE: {"channels": {"3": {"session_scope": "channel",
                                              "requireMention": True}}}}}),
    ("CHANNEL_OVERRIDE_INVALID", "error", f'spaces["{SPACE}"].channels["3"].session_scope',
     {"spaces": {SPACE: {"channels": {"3": {}}}}}),
    ("CHANNEL_OVERRIDE_INVALID", "error", f'spaces["{SPACE}"].channels["3"]',
     {"spaces": {SPACE: {"channels": {"3": "channel"}}}}),
    ("SESSION_SCOPE_CONFLICT", "warning", f'spaces["{SPACE}"]',
     {"spaces": {SPACE: {"session_scope": "guild",
                         "channels": {"3": {"session_scope": "channel"}}}}}),
    ("PRIVACY_ZONE_CONFLICT", "warning", f'spaces["{SPACE}"].channels["9"]',
     {"spaces": {SPACE: {"session_scope": "guild", "channels": {"9": {"session_scope": "guild"}},
                         "privacy_zones": ["9"]}}}),
    ("INVALID_THREADS", "error", "threads.isolate", {"threads": {"isolate": "yes"}}),
    ("THREAD_ISOLATION_CONFLICT", "warning", "threads.isolate",
     {"threads": {"isolate": False}, "dimensions": ["chat", "topic"]}),
    ("INVALID_RULE", "error", "rules[0].when.channel",
     {"rules": [{"name": "r", "when": {"channel": "telegram"}, "dimensions": ["chat"]}]}),
    ("INVALID_RULE", "error", "rules[0].name",
     {"rules": [{"when": {"agent": "a"}, "dimensions": ["chat"]}]}),
    ("INVALID_RULE", "error", "rules[0].when.chat_type[0]",
     {"rules": [{"name": "r", "when": {"chat_type": "private"}, "dimensions": ["chat"]}]}),
    ("RULE_MATCHES_EVERYTHING", "warning", "rules[0]",
     {"rules": [{"name": "r", "when": {}, "dimensions": ["chat"]}]}),
    ("RULE_SHADOWED", "warning", "rules[1]",
     {"rules": [{"name": "a", "when": {"platform": "telegram"}, "dimensions": ["chat"]},
                {"name": "b", "when": {"platform": "telegram", "chat": "1"},
                 "dimensions": ["chat", "sender"]}]}),
    ("DUPLICATE_RULE_NAME", "error", "rules[1]",
     {"rules": [{"name": "r", "when": {"agent": "a"}, "dimensions": ["chat"]},
                {"name": "r", "when": {"agent": "b"}, "dimensions": ["chat"]}]}),
    ("RULE_IGNORED_FOR_DMS", "warning", "rules[0]",
     {"rules": [{"name": "r", "when": {"chat_type": "dm"}, "dimensions": ["sender"]}]}),
    ("INVALID_RESET", "error", "reset.mode", {"reset": {"mode": "weekly"}}),
    ("INVALID_RESET", "error", "reset.at_hour", {"reset": {"mode": "daily", "at_hour": 24}}),
    ("INVALID_RESET", "error", "reset.timezone", {"reset": {"timezone": "Mars/Olympus"}}),
    ("INVALID_RESET", "error", "reset.idle_minutes", {"reset": {"idle_minutes": 0}}),
    ("INVALID_COMPACTION", "error", "compaction.summarize_token_percent",
     {"compaction": {"summarize_token_percent": 150}}),
    ("INVALID_COMPACTION", "error", "compaction.max_messages",
     {"compaction": {"max_messages": 0}}),
]


@pytest.mark.parametrize(("code", "severity", "path", "data"), CASES,
                         ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)])
def test_each_code_is_reported_for_its_input(code: str, severity: str, path: str,
                                             data: Any) -> None:
    diagnostics = check_policy(data)
    assert [(d.code, d.severity, d.path) for d in diagnostics] == [(code, severity, path)]
    assert diagnostics[0].message.strip(), "every diagnostic says what to do"


def test_messages_say_how_to_fix() -> None:
    by_code: dict[str, str] = {}
    for case in CASES:
        for diagnostic in check_policy(case[3]):
            by_code[diagnostic.code] = by_code.get(diagnostic.code, "") + diagnostic.message
    assert "use 'space', 'chat', 'topic' or 'sender'" in by_code["UNKNOWN_DIMENSION"]
    assert "write 'session_scope'" in by_code["UNKNOWN_KEY"]
    assert "move its keys to the top level" in by_code["UNKNOWN_KEY"]
    assert "'platform'" in by_code["INVALID_RULE"]
    assert "remove it from" in by_code["CHANNEL_GROUP_OVERLAP"]
    assert "use 'channel' or 'guild'" in by_code["INVALID_SESSION_SCOPE"]


def test_every_problem_is_reported_at_once() -> None:
    data = {"dimensions": ["guild"], "dm_scope": "global",
            "channel_groups": {"a": ["discord:1"], "b": ["discord:1"]}}
    codes = sorted(d.code for d in check_policy(data))
    assert codes == ["CHANNEL_GROUP_OVERLAP", "INVALID_DM_SCOPE", "UNKNOWN_DIMENSION"]


def test_the_empty_policy_is_the_safe_default() -> None:
    policy = load_policy({})
    assert policy.dimensions == ("chat",)
    assert policy.dm_scope == "per-channel-peer"
    assert policy.threads.isolate and not policy.threads.inherit_parent
    assert policy.reset.mode == "none" and policy.reset.triggers == ("/new", "/reset")
    assert check_policy({}) == []


def test_policies_are_frozen() -> None:
    policy = load_policy({})
    with pytest.raises(ValidationError):
        policy.dm_scope = "main"


def test_load_policy_raises_policy_error_with_every_diagnostic() -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy({"dimensions": ["guild"], "dm_scope": "global"})
    error = refused.value
    assert isinstance(error, ConvlogError)
    assert error.code == "INVALID_POLICY"
    assert {d.code for d in error.diagnostics} == {"UNKNOWN_DIMENSION", "INVALID_DM_SCOPE"}


def test_warnings_alone_do_not_refuse_a_policy() -> None:
    data = {"spaces": {SPACE: {"session_scope": "guild",
                               "channels": {"3": {"session_scope": "channel"}}}}}
    assert load_policy(data).spaces[SPACE].session_scope == "guild"


def test_missing_and_malformed_files_have_codes(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as missing:
        read_policy_file(tmp_path / "absent.json")
    assert missing.value.code == "POLICY_NOT_FOUND"
    broken = tmp_path / "broken.json"
    broken.write_text('{"dimensions": [chat]}', encoding="utf-8")
    with pytest.raises(PolicyError) as not_json:
        load_policy(broken)
    assert not_json.value.code == "POLICY_NOT_JSON"
    assert "line 1" in str(not_json.value)


def test_fingerprint_covers_grouping_only() -> None:
    base = load_policy({})
    assert base.grouping_fingerprint() == load_policy(
        {"name": "x", "compaction": {"max_messages": 5}}).grouping_fingerprint()
    assert base.grouping_fingerprint() != load_policy(
        {"dimensions": ["chat", "sender"]}).grouping_fingerprint()
    assert base.grouping_fingerprint() != load_policy(
        {"reset": {"mode": "daily"}}).grouping_fingerprint()


def test_fingerprint_ignores_spelling_and_order_of_channel_refs() -> None:
    one = load_policy({"channel_groups": {"g": ["discord:channel:1", "discord:2"]}})
    two = load_policy({"channel_groups": {"g": ["discord:2", "discord:1"]}})
    assert one.grouping_fingerprint() == two.grouping_fingerprint()
    assert one.channel_groups["g"] == ("discord:1", "discord:2")


def test_model_copy_revalidates_and_refingerprints() -> None:
    policy = load_policy({})
    changed = policy.model_copy(update={"dimensions": ["sender"]})
    assert changed.dimensions == ("sender",)
    assert changed.grouping_fingerprint() != policy.grouping_fingerprint()


def test_diagnostic_renders_as_one_line() -> None:
    diagnostic = Diagnostic("UNKNOWN_DIMENSION", "error", "dimensions[0]", "use chat")
    assert str(diagnostic) == "error UNKNOWN_DIMENSION at dimensions[0]: use chat"
    assert diagnostic.as_dict()["path"] == "dimensions[0]"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
POLICY_KEYS = st.sampled_from(list(Policy.model_fields) + ["sessionScope", "channel"])


@settings(max_examples=examples(300), deadline=None)
@given(st.dictionaries(POLICY_KEYS, JSON_VALUES, max_size=6) | JSON_VALUES)
def test_check_policy_never_raises_on_user_input(data: Any) -> None:
    diagnostics = check_policy(data)
    assert all(d.severity in ("error", "warning") and d.code and d.message for d in diagnostics)


def test_lone_surrogates_from_json_are_refused_not_crashed_on() -> None:
    data = json.loads('{"name": "\\ud800", "channel_groups": {"\\udc00": ["discord:\\ud800"]}}')
    assert {d.code for d in check_policy(data)} == {"INVALID_NAME", "INVALID_CHANNEL_GROUP"}


# ------------------------------------------------------------------------ CLI


def _write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_cli_check_exits_1_on_errors_and_lists_codes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    file = _write(tmp_path, {"dimensions": ["guild"]})
    assert main(["policy", "check", file]) == 1
    out = capsys.readouterr().out
    assert "error UNKNOWN_DIMENSION at dimensions[0]" in out
    assert "invalid: 1 error, 0 warnings" in out


def test_cli_check_exits_0_with_warnings_only(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    file = _write(tmp_path, {"spaces": {SPACE: {"session_scope": "guild",
                                                "channels": {"3": {"session_scope": "channel"}}}}})
    assert main(["policy", "check", file, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and report["warnings"] == 1 and report["errors"] == 0
    assert report["diagnostics"][0]["code"] == "SESSION_SCOPE_CONFLICT"
    assert len(report["grouping_fingerprint"]) == 64


@pytest.mark.parametrize(("content", "code"), [(None, "POLICY_NOT_FOUND"),
                                               ("{nope", "POLICY_NOT_JSON")])
def test_cli_check_explains_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             content: str | None, code: str) -> None:
    path = tmp_path / "policy.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["policy", "check", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["diagnostics"][0]["code"] == code
