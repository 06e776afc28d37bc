"""Retention: erase what rules say is old enough, through the erasure mechanism, once a day.

Retention is scheduled erasure. A run erases the content (text, sender_name, meta)
of the events the rules select, exactly as `convlog erase` does, and keeps every
envelope, position and token count, so session lists, usage totals and cost reports
do not change. Content erased before it was counted would count as nothing, so a run
first counts what is not counted yet (in the deployment's encoding and in every
encoding counted so far), and erases only events with a count. Each run is one row
of the `erasures` audit (`kind = 'retention'`) whose targets hold the rules, the time
the ages were computed from and the encoding.

A run that would erase the content of every message event left with content, or of
more than a share of them (`max_share`, default half), is refused without `--yes`:
the guard counts like with like (message events with content against the message
events the run erases), so no combination of rules walks around it, and the refusal
carries the plan it refused.

The schedule keeps its memory in that audit: a run is due when the newest retention
run's `as_of` is a day old, so a restart neither skips a day nor runs twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.erasure import checked_reason
from eventlog.errors import ConvlogError, DatabaseError
from eventlog.events import MESSAGE_TYPES
from eventlog.retention_rules import RetentionError, RuleSet, load_rules
from eventlog.schema import log_horizon
from eventlog.tokens import ensure_counted

log = logging.getLogger("convlog.retention")
DAY = timedelta(days=1)
CHECK_EVERY = timedelta(hours=1)
RETENTION_LOCK_KEY = 0x636F6E7672657465  # "convrete": one scheduled run at a time
DEFAULT_MAX_SHARE = 0.5  # of the message events with content, erased by one run without --yes
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RulePlan:
    """What one rule erases now."""

    name: str
    max_age_days: int | None
    events: int
    messages: int
    senders: int
    chats: int
    oldest: datetime | None
    newest: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.name, "max_age_days": self.max_age_days, "events": self.events,
                "messages": self.messages, "senders": self.senders, "chats": self.chats,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "newest": self.newest.isoformat() if self.newest else None}


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run would erase: events of every type, and message events counted apart.

    The guard compares message events with message events: `messages` of the
    `messages_with_content` the log still holds (summaries and other events without a
    chat type are neither side of it).
    """

    as_of: datetime
    rules: tuple[RulePlan, ...]
    events: int
    with_content: int
    messages: int
    messages_with_content: int

    @property
    def share(self) -> float:
        """The share of message events with content that the run erases."""
        return self.messages / self.messages_with_content if self.messages_with_content else 0.0

    @property
    def erases_everything(self) -> bool:
        return 0 < self.messages_with_content <= self.messages

    def needs_yes(self, max_share: float) -> bool:
        return self.erases_everything or self.share > max_share

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "events": self.events,
                "with_content": self.with_content, "messages": self.messages,
                "messages_with_content": self.messages_with_content,
                "share": round(self.share, 4), "erases_everything": self.erases_everything,
                "rules": [rule.as_dict() for rule in self.rules]}


class RetentionRefused(RetentionError):
    """A run that needs --yes; nothing was erased. `plan` is what it would have erased."""

    def __init__(self, message: str, *, code: str, plan: Plan) -> None:
        super().__init__(message, code=code)
        self.plan = plan


@dataclass(frozen=True, slots=True)
class RunResult:
    erasure_id: int
    as_of: datetime
    events_matched: int
    contents_erased: int
    summaries_erased: int

    def as_dict(self) -> dict[str, Any]:
        return {"erasure": self.erasure_id, "as_of": self.as_of.isoformat(),
                "events_matched": self.events_matched, "contents_erased": self.contents_erased,
                "summaries_erased": self.summaries_erased}


def _params(rules: RuleSet, as_of: datetime, encoding: str) -> dict[str, Any]:
    return {"rules": rules.as_json(), "as_of": as_of, "encoding": encoding}


def count_first(conn: Connection, encoding: str) -> None:
    """Count every event's tokens, in `encoding` and every encoding counted so far."""
    head = log_horizon(conn)
    used = {str(name) for name in conn.execute(text("SELECT encoding FROM token_watermarks"))
            .scalars()}
    for name in sorted(used | {encoding}):
        ensure_counted(conn, name, head)


# The events the guard counts, on both sides: those that carry what people and agents wrote.
MESSAGE = f"e.type IN ({', '.join(repr(name) for name in sorted(MESSAGE_TYPES))})"
# Content a run could still erase: not erased, and something of it left.
HAS_CONTENT = ("c.erased_by IS NULL AND (c.text IS NOT NULL OR c.sender_name IS NOT NULL "
               "OR c.meta IS NOT NULL)")


def _with_content(conn: Connection) -> tuple[int, int]:
    """Events, and message events, whose content is not erased."""
    row = conn.execute(text(
        f"SELECT count(*) AS events, count(*) FILTER (WHERE {MESSAGE}) AS messages "
        f"FROM event_content c JOIN events e ON e.position = c.position WHERE {HAS_CONTENT}"
    )).one()
    return int(row.events), int(row.messages)


def plan(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str) -> Plan:
    """What a run would erase now, per rule; erases nothing (it may count tokens)."""
    with engine.begin() as conn:
        count_first(conn, encoding)
        rows = {row.rule: row for row in conn.execute(text(
            f"SELECT t.rule, count(*) AS events, count(*) FILTER (WHERE {MESSAGE}) AS messages, "
            "count(DISTINCT (e.platform, e.sender)) FILTER (WHERE e.sender IS NOT NULL) "
            "AS senders, count(DISTINCT (e.platform, e.chat)) FILTER (WHERE e.chat IS NOT "
            "NULL) AS chats, min(e.occurred_at) AS oldest, max(e.occurred_at) AS newest "
            "FROM convlog_retention_targets(CAST(:rules AS jsonb), :as_of, :encoding) t "
            "JOIN events e ON e.position = t.target GROUP BY t.rule"),
            _params(rules, as_of, encoding))}
        with_content, messages_with_content = _with_content(conn)
    per_rule = []
    for index, rule in enumerate(rules.rules):
        row = rows.get(index)
        per_rule.append(RulePlan(rule.name, rule.max_age_days,
                                 int(row.events) if row else 0, int(row.messages) if row else 0,
                                 int(row.senders) if row else 0,
                                 int(row.chats) if row else 0, row.oldest if row else None,
                                 row.newest if row else None))
    return Plan(as_of, tuple(per_rule), sum(p.events for p in per_rule), with_content,
                sum(p.messages for p in per_rule), messages_with_content)


class _Refuse(Exception):
    """Rolls a run's transaction back; turned into RetentionRefused with the plan."""


def _refusal(engine: Engine, rules: RuleSet, as_of: datetime, encoding: str,
             max_share: float) -> RetentionRefused:
    shown = plan(engine, rules, as_of=as_of, encoding=encoding)
    if shown.erases_everything:
        what, code = "every message in the log", "ERASES_EVERYTHING"
    else:
        what = (f"{shown.messages:,} of the {shown.messages_with_content:,} messages that "
                f"still have content ({shown.share:.0%}, over the limit of {max_share:.0%})")
        code = "ERASES_TOO_MUCH"
    return RetentionRefused(
        f"{rules.source} would erase the content of {what}; nothing was erased. If that is "
        "meant, repeat with --yes (or raise --max-share); `convlog retention plan` shows "
        "each rule's part", code=code, plan=shown)


def run(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str,
        reason: str | None = None, yes: bool = False,
        max_share: float = DEFAULT_MAX_SHARE) -> RunResult:
    """Erase what the rules select now (see `_run`)."""
    result = _run(engine, rules, as_of=as_of, encoding=encoding, reason=reason, yes=yes,
                  once_a_day=False, max_share=max_share)
    assert result is not None  # only a once-a-day run is ever skipped
    return result


def run_if_due(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str,
               max_share: float = DEFAULT_MAX_SHARE) -> RunResult | None:
    """The scheduled run: None when the audit holds a run less than a day before `as_of`."""
    return _run(engine, rules, as_of=as_of, encoding=encoding, reason=None, yes=False,
                once_a_day=True, max_share=max_share)


def _run(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str,
         reason: str | None, yes: bool, once_a_day: bool,
         max_share: float) -> RunResult | None:
    """Erase what the rules select, audited as one retention erasure, in one transaction.

    Without `yes`, a run that would erase the content of every message event still
    holding content, or of more than `max_share` of them, is rolled back and refused
    (RetentionRefused: ERASES_EVERYTHING or ERASES_TOO_MUCH, with the plan). The
    count is taken in the run's own transaction, of what it erased, so it is exact.
    With `once_a_day`, nothing happens (None) when the audit holds a run less than a
    day before `as_of`; concurrent schedulers take turns on a lock and one of them runs.
    """
    if not 0 <= max_share <= 1:
        raise RetentionError(f"the share a run may erase must be from 0 to 1, not {max_share}",
                             code="INVALID_MAX_SHARE")
    why = checked_reason(reason or f"retention rules {Path(rules.source).name}")
    selector = f"{Path(rules.source).name} sha256:{rules.digest[:16]}"
    try:
        if once_a_day and _ran_within_a_day(engine, as_of):
            return None
        with engine.begin() as conn:
            count_first(conn, encoding)
        with engine.begin() as conn:
            if once_a_day:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": RETENTION_LOCK_KEY})
                previous = last_run(conn)
                if previous is not None and as_of - previous < DAY:
                    return None
            row = conn.execute(text(
                "SELECT erasure, matched, contents, summaries FROM convlog_retain("
                "CAST(:rules AS jsonb), :as_of, :encoding, :selector, :reason)"),
                {**_params(rules, as_of, encoding), "selector": selector, "reason": why}).one()
            if not yes and _erases_too_much(conn, int(row.erasure), max_share):
                raise _Refuse  # rolls the erasure and its audit back
    except _Refuse:
        raise _refusal(engine, rules, as_of, encoding, max_share) from None
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == "42501":
            raise RetentionError("this database role may not erase; connect as a member of "
                                 "convlog_operator (see docs/roles.md)",
                                 code="ERASE_NOT_PERMITTED") from None
        raise DatabaseError(f"retention run failed: {error.orig}; nothing was erased, so it "
                            "can be retried as it is") from error
    return RunResult(int(row.erasure), as_of, int(row.matched), int(row.contents),
                     int(row.summaries))


def _erases_too_much(conn: Connection, erasure: int, max_share: float) -> bool:
    """Whether erasure `erasure`, just made in `conn`'s transaction, took every message
    event's content or more than `max_share` of those that had content before it."""
    row = conn.execute(text(
        f"SELECT count(*) FILTER (WHERE c.erased_by = :erasure) AS erased, "
        f"count(*) FILTER (WHERE {HAS_CONTENT}) AS kept "
        f"FROM event_content c JOIN events e ON e.position = c.position WHERE {MESSAGE}"),
        {"erasure": erasure}).one()
    erased, before = int(row.erased), int(row.erased) + int(row.kept)
    return erased > 0 and (erased >= before or erased > max_share * before)


def _ran_within_a_day(engine: Engine, as_of: datetime) -> bool:
    with engine.connect() as conn:
        previous = last_run(conn)
    return previous is not None and as_of - previous < DAY


def last_run(conn: Connection) -> datetime | None:
    """The `as_of` of the newest retention run in the audit."""
    value = conn.execute(text(
        "SELECT max((targets->>'as_of')::timestamptz) FROM erasures WHERE kind = 'retention'"
    )).scalar()
    return value if isinstance(value, datetime) else None


class DailyRetention:
    """Applies a rules file once a day; `tick()` is called as often as the worker wakes."""

    def __init__(self, engine: Engine, path: Path, encoding: str, *,
                 clock: Clock = utc_now, max_share: float = DEFAULT_MAX_SHARE) -> None:
        self.engine = engine
        self.path = path
        self.encoding = encoding
        self.clock = clock
        self.max_share = max_share
        self._checked_at: datetime | None = None

    def tick(self) -> RunResult | None:
        """Run if a day has passed since the last run; never raises (the worker goes on).

        The database is asked at most once an hour, and a failed run is tried again
        the next day rather than on every tick.
        """
        now = self.clock()
        if self._checked_at is not None and now - self._checked_at < CHECK_EVERY:
            return None
        self._checked_at = now
        try:
            result = run_if_due(self.engine, load_rules(self.path), as_of=now,
                                encoding=self.encoding, max_share=self.max_share)
        except ConvlogError as error:
            self._checked_at = now + DAY - CHECK_EVERY
            log.error("retention rules %s not applied [%s]: %s", self.path, error.code, error)
            return None
        except DBAPIError as error:
            self._checked_at = now + DAY - CHECK_EVERY
            log.error("retention rules %s not applied: %s", self.path, error.orig)
            return None
        if result is not None:
            log.info("retention %s: erased the content of %d events (erasure %d)", self.path,
                     result.contents_erased, result.erasure_id)
        return result
