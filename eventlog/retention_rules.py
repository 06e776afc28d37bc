"""Retention rules: which conversations lose their content after how long, checked with codes.

A rules file is JSON: `{"rules": [{"name": "groups-90d", "match": {"chat_type": "group"},
"max_age_days": 90}, ...]}`. An event's first matching rule decides; an event no rule
matches is kept, and so is one whose rule has `"max_age_days": null` (a rule that
shields, e.g. one space never). Ages count from `occurred_at`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventlog.config_text import ConfigBoundsError, check_depth, read_bounded, too_deep
from eventlog.errors import EventLogError

MATCH_KEYS = ("chat_type", "platform", "space", "agent")
CHAT_TYPES = ("dm", "group", "channel")
RULE_KEYS = ("name", "match", "max_age_days")
MAX_AGE_DAYS = 36_500
MAX_RULES = 1_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with a rules file: a stable code, where it is, and what to do."""

    code: str
    where: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "where": self.where, "message": self.message}

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


class RetentionError(EventLogError):
    """Retention rules that cannot be used, or a run that needs confirming; nothing was erased."""

    code = "INVALID_RETENTION_RULES"

    def __init__(self, message: str, *, code: str | None = None,
                 findings: tuple[Finding, ...] = ()) -> None:
        super().__init__(message, code=code)
        self.findings = findings


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    match: dict[str, str]
    max_age_days: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "match": dict(self.match), "max_age_days": self.max_age_days}

    def covers(self, other: Rule) -> bool:
        """Whether every event `other` matches is matched by this rule first."""
        return all(other.match.get(key) == value for key, value in self.match.items())


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str
    warnings: tuple[Finding, ...] = field(default=())

    def as_json(self) -> str:
        return json.dumps([rule.as_dict() for rule in self.rules], sort_keys=True)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.as_json().encode()).hexdigest()


def _rule(index: int, raw: Any, errors: list[Finding]) -> Rule | None:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        errors.append(Finding("INVALID_RULE", where, "must be a JSON object with name, match "
                              "and max_age_days"))
        return None
    for key in raw:
        if key not in RULE_KEYS:
            errors.append(Finding("UNKNOWN_RULE_KEY", f"{where}.{key}", f"unknown key; a rule "
                                  f"has {', '.join(RULE_KEYS)}"))
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors.append(Finding("INVALID_RULE_NAME", f"{where}.name", "every rule needs a name "
                              "(1 to 200 characters): plans and the audit name rules by it"))
        name = f"#{index}"
    match = raw.get("match", {})
    clean: dict[str, str] = {}
    if not isinstance(match, dict):
        errors.append(Finding("INVALID_MATCH", f"{where}.match", "must be a JSON object, e.g. "
                              "{\"chat_type\": \"group\"}; {} matches every conversation"))
        match = {}
    for key, value in match.items():
        if key not in MATCH_KEYS:
            errors.append(Finding("UNKNOWN_MATCH_KEY", f"{where}.match.{key}",
                                  f"rules match by {', '.join(MATCH_KEYS)}"))
        elif not isinstance(value, str) or not value:
            errors.append(Finding("INVALID_MATCH_VALUE", f"{where}.match.{key}",
                                  "must be a non-empty string"))
        elif key == "chat_type" and value not in CHAT_TYPES:
            errors.append(Finding("INVALID_CHAT_TYPE", f"{where}.match.chat_type",
                                  f"{value!r} is not one of {', '.join(CHAT_TYPES)}"))
        else:
            clean[key] = value
    if "max_age_days" not in raw:
        errors.append(Finding("INVALID_MAX_AGE", f"{where}.max_age_days", "missing: give the "
                              "age in days after which content is erased, or null to keep it"))
    age = raw.get("max_age_days")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int)
                            or not 0 <= age <= MAX_AGE_DAYS):
        errors.append(Finding("INVALID_MAX_AGE", f"{where}.max_age_days",
                              f"must be a whole number of days from 0 to {MAX_AGE_DAYS}, or "
                              "null to keep what the rule matches"))
        age = None
    return Rule(name.strip(), clean, age)


def parse_rules(document: Any, source: str = "rules") -> RuleSet:
    """A rule set from parsed JSON, or a RetentionError listing every problem with its code."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RetentionError(f"{source}: must be a JSON object with a \"rules\" array, e.g. "
                             "{\"rules\": [{\"name\": \"groups-90d\", \"match\": {\"chat_type\": "
                             "\"group\"}, \"max_age_days\": 90}]}",
                             findings=(Finding("INVALID_RETENTION_RULES", "rules", "missing"),))
    unknown = [key for key in document if key != "rules"]
    errors += [Finding("UNKNOWN_KEY", key, "unknown top-level key; the file has \"rules\" only")
               for key in unknown]
    raw_rules = document["rules"]
    if len(raw_rules) > MAX_RULES:
        errors.append(Finding("TOO_MANY_RULES", "rules", f"at most {MAX_RULES} rules"))
    rules = [rule for i, raw in enumerate(raw_rules[:MAX_RULES])
             if (rule := _rule(i, raw, errors)) is not None]
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            errors.append(Finding("DUPLICATE_RULE_NAME", f"rules[{index}].name",
                                  f"{rule.name!r} names an earlier rule too; names must differ"))
        seen.add(rule.name)
        shadow = next((earlier for earlier in rules[:index] if earlier.covers(rule)), None)
        if shadow is not None:
            warnings.append(Finding("UNREACHABLE_RULE", f"rules[{index}]",
                                    f"{rule.name!r} never applies: {shadow.name!r} comes first "
                                    "and matches everything it does (the first match wins)"))
    if errors:
        listing = "; ".join(str(finding) for finding in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise RetentionError(f"{source}: {listing}{more}", code=errors[0].code,
                             findings=tuple(errors))
    return RuleSet(tuple(rules), source, tuple(warnings))


def load_rules(path: Path) -> RuleSet:
    try:
        raw = read_bounded(path)
        check_depth(raw)
    except ConfigBoundsError as error:
        raise RetentionError(f"{path}: {error}", code=error.code) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RetentionError(f"cannot read retention rules {path}: {error}; give a JSON file",
                             code="INVALID_RETENTION_RULES") from None
    try:
        document = json.loads(raw)
    except RecursionError:
        raise RetentionError(f"{path}: {too_deep()}", code="CONFIG_TOO_DEEP") from None
    except json.JSONDecodeError as error:
        raise RetentionError(f"{path}: not JSON ({error.msg} at line {error.lineno}, column "
                             f"{error.colno})", code="INVALID_RETENTION_RULES") from None
    return parse_rules(document, str(path))
