"""Retention: erase what rules say is old enough, through the erasure mechanism, once a day.

Retention is scheduled erasure. A run erases the content (text, sender_name, meta)
of the events the rules select, exactly as `convlog erase` does, and keeps every
envelope, position and token count, so session lists, usage totals and cost reports
do not change. Content erased before it was counted would count as nothing, so a run
first counts what is not counted yet (in the deployment's encoding and in every
encoding counted so far), and erases only events with a count. Each run is one row
of the `erasures` audit (`kind = 'retention'`) whose targets hold the rules, the time
the ages were computed from and the encoding.

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

from eventlog.convlog_errors import ConvlogError, DatabaseError
from eventlog.erasure import checked_reason
from eventlog.retention_rules import RetentionError, RuleSet, load_rules
from eventlog.schema import log_horizon
from eventlog.tokens import ensure_counted

log = logging.getLogger("convlog.retention")
DAY = timedelta(days=1)
CHECK_EVERY = timedelta(hours=1)
RETENTION_LOCK_KEY = 0x636F6E7672657465  # "convrete": one scheduled run at a time
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RulePlan:
    """What one rule erases now."""

    name: str
    max_age_days: int | None
    events: int
    senders: int
    chats: int
    oldest: datetime | None
    newest: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.name, "max_age_days": self.max_age_days, "events": self.events,
                "senders": self.senders, "chats": self.chats,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "newest": self.newest.isoformat() if self.newest else None}


@dataclass(frozen=True, slots=True)
class Plan:
    as_of: datetime
    rules: tuple[RulePlan, ...]
    events: int
    with_content: int

    @property
    def erases_everything(self) -> bool:
        return 0 < self.with_content <= self.events

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "events": self.events,
                "with_content": self.with_content, "erases_everything": self.erases_everything,
                "rules": [rule.as_dict() for rule in self.rules]}


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


def _with_content(conn: Connection) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM event_content WHERE erased_by IS NULL AND (text IS NOT NULL "
        "OR sender_name IS NOT NULL OR meta IS NOT NULL)")).scalar_one())


def plan(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str) -> Plan:
    """What a run would erase now, per rule; erases nothing (it may count tokens)."""
    with engine.begin() as conn:
        count_first(conn, encoding)
        rows = {row.rule: row for row in conn.execute(text(
            "SELECT t.rule, count(*) AS events, "
            "count(DISTINCT (e.platform, e.sender)) FILTER (WHERE e.sender IS NOT NULL) "
            "AS senders, count(DISTINCT (e.platform, e.chat)) FILTER (WHERE e.chat IS NOT "
            "NULL) AS chats, min(e.occurred_at) AS oldest, max(e.occurred_at) AS newest "
            "FROM convlog_retention_targets(CAST(:rules AS jsonb), :as_of, :encoding) t "
            "JOIN events e ON e.position = t.target GROUP BY t.rule"),
            _params(rules, as_of, encoding))}
        with_content = _with_content(conn)
    per_rule = []
    for index, rule in enumerate(rules.rules):
        row = rows.get(index)
        per_rule.append(RulePlan(rule.name, rule.max_age_days,
                                 int(row.events) if row else 0, int(row.senders) if row else 0,
                                 int(row.chats) if row else 0, row.oldest if row else None,
                                 row.newest if row else None))
    return Plan(as_of, tuple(per_rule), sum(p.events for p in per_rule), with_content)


def _refuse_everything(rules: RuleSet) -> RetentionError:
    return RetentionError(
        f"{rules.source} would erase the content of every conversation in the log; if that "
        "is meant, repeat with --yes (see `convlog retention plan`)", code="ERASES_EVERYTHING")


def run(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str,
        reason: str | None = None, yes: bool = False) -> RunResult:
    """Erase what the rules select now (see `_run`)."""
    result = _run(engine, rules, as_of=as_of, encoding=encoding, reason=reason, yes=yes,
                  once_a_day=False)
    assert result is not None  # only a once-a-day run is ever skipped
    return result


def run_if_due(engine: Engine, rules: RuleSet, *, as_of: datetime,
               encoding: str) -> RunResult | None:
    """The scheduled run: None when the audit holds a run less than a day before `as_of`."""
    return _run(engine, rules, as_of=as_of, encoding=encoding, reason=None, yes=False,
                once_a_day=True)


def _run(engine: Engine, rules: RuleSet, *, as_of: datetime, encoding: str,
         reason: str | None, yes: bool, once_a_day: bool) -> RunResult | None:
    """Erase what the rules select, audited as one retention erasure, in one transaction.

    Without `yes`, a run that would erase all content left in the log is rolled back
    and refused (ERASES_EVERYTHING), as is a rule set whose catch-all rule has age 0.
    With `once_a_day`, nothing happens (None) when the audit holds a run less than a
    day before `as_of`; concurrent schedulers take turns on a lock and one of them runs.
    """
    if not yes and rules.catch_all_now() is not None:
        raise _refuse_everything(rules)
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
            before = _with_content(conn)
            row = conn.execute(text(
                "SELECT erasure, matched, contents, summaries FROM convlog_retain("
                "CAST(:rules AS jsonb), :as_of, :encoding, :selector, :reason)"),
                {**_params(rules, as_of, encoding), "selector": selector, "reason": why}).one()
            if not yes and before > 0 and row.contents >= before:
                raise _refuse_everything(rules)  # rolls the erasure and its audit back
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == "42501":
            raise RetentionError("this database role may not erase; connect as a member of "
                                 "convlog_operator (see the README's Roles section)",
                                 code="ERASE_NOT_PERMITTED") from None
        raise DatabaseError(f"retention run failed: {error.orig}; nothing was erased, so it "
                            "can be retried as it is") from error
    return RunResult(int(row.erasure), as_of, int(row.matched), int(row.contents),
                     int(row.summaries))


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
                 clock: Clock = utc_now) -> None:
        self.engine = engine
        self.path = path
        self.encoding = encoding
        self.clock = clock
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
                                encoding=self.encoding)
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
