"""Retention rules are checked like policies: every problem has a code and a place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventlog.retention_rules import RetentionError, load_rules, parse_rules

GOOD = {"rules": [
    {"name": "one-space-never", "match": {"platform": "discord", "space": "42"},
     "max_age_days": None},
    {"name": "groups-90d", "match": {"chat_type": "group"}, "max_age_days": 90},
    {"name": "dms-1y", "match": {"chat_type": "dm"}, "max_age_days": 365},
]}


def codes(document: Any) -> list[str]:
    with pytest.raises(RetentionError) as caught:
        parse_rules(document)
    return [finding.code for finding in caught.value.findings]


def test_the_issue_example_parses_in_order() -> None:
    # Given the rules of the README, When they are parsed
    rules = parse_rules(GOOD)
    # Then they keep their order, matches and ages, and nothing is warned about
    assert [(r.name, r.match, r.max_age_days) for r in rules.rules] == [
        ("one-space-never", {"platform": "discord", "space": "42"}, None),
        ("groups-90d", {"chat_type": "group"}, 90),
        ("dms-1y", {"chat_type": "dm"}, 365)]
    assert rules.warnings == ()


@pytest.mark.parametrize(("document", "expected"), [
    ({"rules": [{"name": "a", "match": {"chat": "1"}, "max_age_days": 1}]},
     ["UNKNOWN_MATCH_KEY"]),
    ({"rules": [{"name": "a", "match": {"chat_type": "room"}, "max_age_days": 1}]},
     ["INVALID_CHAT_TYPE"]),
    ({"rules": [{"name": "a", "match": {"agent": ""}, "max_age_days": 1}]},
     ["INVALID_MATCH_VALUE"]),
    ({"rules": [{"name": "a", "match": {}, "max_age_days": -1}]}, ["INVALID_MAX_AGE"]),
    ({"rules": [{"name": "a", "match": {}, "max_age_days": True}]}, ["INVALID_MAX_AGE"]),
    ({"rules": [{"name": "a", "match": {}, "max_age_days": "90"}]}, ["INVALID_MAX_AGE"]),
    ({"rules": [{"name": "a", "match": {}}]}, ["INVALID_MAX_AGE"]),
    ({"rules": [{"match": {}, "max_age_days": 1}]}, ["INVALID_RULE_NAME"]),
    ({"rules": [{"name": "a", "match": [], "max_age_days": 1}]}, ["INVALID_MATCH"]),
    ({"rules": [{"name": "a", "match": {}, "max_age_days": 1, "keep": True}]},
     ["UNKNOWN_RULE_KEY"]),
    ({"rules": ["groups"]}, ["INVALID_RULE"]),
    ({"rules": [{"name": "a", "match": {"chat_type": "dm"}, "max_age_days": 1},
                {"name": "a", "match": {"chat_type": "group"}, "max_age_days": 1}]},
     ["DUPLICATE_RULE_NAME"]),
    ({"rules": [], "retention": 3}, ["UNKNOWN_KEY"]),
    ({"groups": 90}, ["INVALID_RETENTION_RULES"]),
])
def test_each_problem_is_refused_with_its_code(document: Any, expected: list[str]) -> None:
    # Given a rules document with one problem, When it is parsed, Then its code is reported
    assert codes(document) == expected


def test_every_problem_is_listed_and_the_first_names_the_error() -> None:
    # Given two rules with three problems between them
    document = {"rules": [{"name": "x", "match": {"chat": "1"}, "max_age_days": -1},
                          {"match": {}, "max_age_days": 1}]}
    # When parsed, Then all three are reported, and the error's code is the first one's
    with pytest.raises(RetentionError) as caught:
        parse_rules(document)
    assert caught.value.code == "UNKNOWN_MATCH_KEY"
    assert [f.where for f in caught.value.findings] == [
        "rules[0].match.chat", "rules[0].max_age_days", "rules[1].name"]


def test_a_rule_an_earlier_one_covers_is_warned_about_as_unreachable() -> None:
    # Given a general rule before a more specific one (first match wins)
    rules = parse_rules({"rules": [
        {"name": "dms", "match": {"chat_type": "dm"}, "max_age_days": 365},
        {"name": "telegram-dms", "match": {"chat_type": "dm", "platform": "telegram"},
         "max_age_days": 30}]})
    # Then the specific rule is reported as one that never applies
    assert [(w.code, w.where) for w in rules.warnings] == [("UNREACHABLE_RULE", "rules[1]")]


def test_a_file_that_is_not_json_is_refused_with_where(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"rules": [', encoding="utf-8")
    with pytest.raises(RetentionError) as caught:
        load_rules(path)
    assert caught.value.code == "INVALID_RETENTION_RULES"
    assert "line 1" in str(caught.value)
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    assert len(load_rules(path).rules) == 3
