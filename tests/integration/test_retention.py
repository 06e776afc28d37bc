"""Retention rules: planned per rule, applied as erasure with one audit row per run, token
totals unchanged, and applied once a day by the worker's schedule (on an injected clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from eventlog.retention import DailyRetention
from eventlog.search_index import index_pending
from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from tests.fixtures.projections import project, snapshot
from workers.cli.main import main

NOW = datetime.now(UTC)
RULES = {"rules": [
    {"name": "studio-never", "match": {"platform": "discord", "space": "777"},
     "max_age_days": None},
    {"name": "groups-90d", "match": {"chat_type": "group"}, "max_age_days": 90},
    {"name": "dms-1y", "match": {"chat_type": "dm"}, "max_age_days": 365},
]}


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def history(store: EventStore) -> None:
    """Positions 1-9: groups, DMs, a shielded space and an unmatched channel, old and new."""
    store.append([
        make_event(chat_type="group", chat="g1", sender="1", occurred_at=ago(200),
                   text="old group alpha"),                                     # 1 erased
        make_event(chat_type="group", chat="g2", sender="2", occurred_at=ago(120),
                   text="old group beta"),                                      # 2 erased
        make_event(chat_type="group", chat="g1", sender="1", occurred_at=ago(30),
                   text="recent group gamma"),                                  # 3 kept
        make_event(chat_type="dm", chat="d1", sender="3", occurred_at=ago(400),
                   text="old dm delta"),                                        # 4 erased
        make_event(chat_type="dm", chat="d1", sender="3", occurred_at=ago(200),
                   text="younger dm epsilon"),                                  # 5 kept
        make_event(chat_type="group", space="777", chat="s1", sender="4",
                   occurred_at=ago(900), text="studio zeta"),                   # 6 shielded
        make_event(chat_type="channel", chat="c1", sender="5", occurred_at=ago(900),
                   text="channel eta"),                                         # 7 no rule
        make_event(type="message.sent", chat_type="group", chat="g1", sender="bot",
                   reply_to="m0", occurred_at=ago(200), text="old reply theta"),  # 8 erased
        make_event(chat_type="group", chat="g3", sender="6", occurred_at=ago(100),
                   text="old group iota"),                                      # 9 erased
    ])


def write(tmp_path: Path, document: Any, name: str = "rules.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def erased(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT position FROM event_content WHERE erased_by IS NOT NULL ORDER BY 1"))
            .scalars())


def retention_audit(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT kind, events_matched, contents_erased FROM erasures ORDER BY id"))]


def test_plan_shows_per_rule_what_would_go_and_erases_nothing(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    history(store)
    plan = cli_json(capsys, "retention", "plan", "--rules", write(tmp_path, RULES))
    by_rule = {rule["rule"]: rule for rule in plan["rules"]}
    assert {name: (r["events"], r["senders"], r["chats"]) for name, r in by_rule.items()} == {
        "studio-never": (0, 0, 0), "groups-90d": (4, 4, 3), "dms-1y": (1, 1, 1)}
    assert by_rule["groups-90d"]["oldest"] == datetime.fromisoformat(
        ago(200)).isoformat()
    assert by_rule["groups-90d"]["newest"] == datetime.fromisoformat(
        ago(100)).isoformat()
    assert (plan["events"], plan["with_content"], plan["erases_everything"]) == (5, 9, False)
    assert erased(engine) == [] and retention_audit(engine) == []


def test_run_erases_what_each_rule_selects_first_match_wins_and_audits_once(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the history, projected and indexed for search, and its token totals
    history(store)
    project(engine, store, "default")
    index_pending(engine)
    projection_before = snapshot(engine, "default")
    stats_before = cli_json(capsys, "log", "stats")
    # When the rules run (a shield first: the studio's old group message is kept, though
    # groups-90d would match it too), allowed to take 5 of the 9 messages
    result = cli_json(capsys, "retention", "run", "--rules", write(tmp_path, RULES),
                      "--max-share", "60")
    # Then exactly the selected contents are erased, recorded as one retention erasure
    assert erased(engine) == [1, 2, 4, 8, 9]
    assert (result["events_matched"], result["contents_erased"]) == (5, 5)
    assert retention_audit(engine) == [("retention", 5, 5)]
    # and token totals, envelopes and the projection's rows are unchanged
    stats_after = cli_json(capsys, "log", "stats")
    assert stats_after["tokens"] == stats_before["tokens"] > 0
    assert stats_after["events"] == stats_before["events"] == 9
    assert snapshot(engine, "default") == projection_before
    # and no search finds the erased texts, while the kept ones are found
    found = cli_json(capsys, "search", "old or recent or younger or studio or channel")
    assert sorted(hit["position"] for hit in found["hits"]) == [3, 5, 6, 7]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM search_documents "
                                 "WHERE position IN (1, 2, 4, 8, 9)")).scalar_one() == 0
    # and a second run erases nothing more but is audited as its own run
    again = cli_json(capsys, "retention", "run", "--rules", write(tmp_path, RULES))
    assert again["contents_erased"] == 0
    assert retention_audit(engine) == [("retention", 5, 5), ("retention", 0, 0)]


def test_a_run_that_would_erase_everything_needs_yes(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    history(store)
    everything = write(tmp_path, {"rules": [{"name": "all", "match": {},
                                             "max_age_days": 10}]}, "all.json")
    # Every event is older than 10 days: the run is refused and rolled back
    capsys.readouterr()
    assert main(["retention", "run", "--rules", everything]) == 2
    assert "[ERASES_EVERYTHING]" in capsys.readouterr().err
    assert erased(engine) == [] and retention_audit(engine) == []
    # so is a catch-all of age 0, whatever share is allowed
    now = write(tmp_path, {"rules": [{"name": "all", "match": {}, "max_age_days": 0}]}, "0.json")
    assert main(["retention", "run", "--rules", now, "--max-share", "100"]) == 2
    assert "[ERASES_EVERYTHING]" in capsys.readouterr().err
    # With --yes it runs
    assert cli_json(capsys, "retention", "run", "--rules", everything, "--yes")[
        "contents_erased"] == 9
    assert erased(engine) == list(range(1, 10))


def test_rules_that_split_everything_between_them_are_refused_without_yes(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given the history and a summary, an event with no chat type that no rule matches
    history(store)
    store.append([make_event(type="summary.recorded", chat=None, chat_type=None, sender=None,
                             message_id=None, session_id="00000000-0000-0000-0000-000000000001",
                             position=3, text="a summary")])
    # When three rules, none of them a catch-all, erase every chat type at once
    split = write(tmp_path, {"rules": [
        {"name": name, "match": {"chat_type": name}, "max_age_days": 0}
        for name in ("dm", "group", "channel")]})
    capsys.readouterr()
    # Then the run is refused, even with any share allowed, and shows the plan it refused
    assert main(["retention", "run", "--rules", split, "--max-share", "100"]) == 2
    err = capsys.readouterr().err
    assert "[ERASES_EVERYTHING]" in err and "every message" in err
    assert "9 of 9 messages" in err and "group" in err
    assert erased(engine) == [] and retention_audit(engine) == []
    # and the plan says it needs --yes
    plan = cli_json(capsys, "retention", "plan", "--rules", split)
    assert (plan["messages"], plan["messages_with_content"], plan["erases_everything"]) == (
        9, 9, True)


def test_a_run_over_the_share_is_refused_with_its_plan_and_runs_when_allowed(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    history(store)
    rules = write(tmp_path, RULES)
    # 5 of the 9 messages is over the default half: refused, the plan on stderr as JSON
    capsys.readouterr()
    assert main(["retention", "run", "--rules", rules, "--json"]) == 2
    captured = capsys.readouterr()
    assert "[ERASES_TOO_MUCH]" in captured.err and "56%" in captured.err
    assert captured.out == ""
    refused = json.loads(captured.err[:captured.err.rindex("}") + 1])
    assert (refused["messages"], refused["messages_with_content"]) == (5, 9)
    assert erased(engine) == [] and retention_audit(engine) == []
    # a share given in the environment is the default of the command
    monkeypatch.setenv("CONVLOG_RETENTION_MAX_SHARE", "0.55")
    assert main(["retention", "run", "--rules", rules]) == 2
    monkeypatch.setenv("CONVLOG_RETENTION_MAX_SHARE", "0.56")
    assert cli_json(capsys, "retention", "run", "--rules", rules)["contents_erased"] == 5
    # and a share that is no percentage, or a fraction that could be one, is a usage error
    for bad in ("150", "0.5"):
        with pytest.raises(SystemExit) as usage:
            main(["retention", "run", "--rules", rules, "--max-share", bad])
        assert usage.value.code == 2


def test_the_daily_schedule_never_erases_more_than_its_share(
        store: EventStore, engine: Engine, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    history(store)
    schedule = DailyRetention(engine, Path(write(tmp_path, RULES)), "cl100k_base",
                              clock=Clock(NOW))
    assert schedule.tick() is None
    assert "ERASES_TOO_MUCH" in caplog.text
    assert erased(engine) == [] and retention_audit(engine) == []


def test_invalid_rules_are_refused_with_their_code_and_nothing_happens(
        store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    history(store)
    bad = write(tmp_path, {"rules": [{"name": "x", "match": {"chat_type": "room"},
                                      "max_age_days": 1}]})
    for verb in ("plan", "run"):
        capsys.readouterr()
        assert main(["retention", verb, "--rules", bad]) == 2
        assert "[INVALID_CHAT_TYPE]" in capsys.readouterr().err
    assert main(["retention", "plan", "--rules", str(tmp_path / "missing.json")]) == 2
    assert erased(engine) == [] and retention_audit(engine) == []


class Clock:
    """A clock the test moves: the schedule never sleeps, the test never waits."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_the_daily_schedule_runs_once_a_day_across_restarts(
        store: EventStore, engine: Engine, tmp_path: Path) -> None:
    # Given the worker's schedule over a rules file, on a clock the test moves
    history(store)
    path = Path(write(tmp_path, RULES))
    clock = Clock(NOW)
    schedule = DailyRetention(engine, path, "cl100k_base", clock=clock, max_share=0.6)
    # When it ticks now, it runs
    first = schedule.tick()
    assert first is not None and first.contents_erased == 5
    # an hour and then 23 hours later it does not, even from a restarted worker
    clock.now += timedelta(hours=1)
    assert schedule.tick() is None
    clock.now += timedelta(hours=22)
    restarted = DailyRetention(engine, path, "cl100k_base", clock=clock, max_share=0.6)
    assert restarted.tick() is None
    # a day after the first run it runs again: the DM of 200 days crossed no rule yet,
    # so nothing more is erased, but the run is recorded
    clock.now = NOW + timedelta(days=1)
    second = restarted.tick()
    assert second is not None and second.contents_erased == 0
    assert retention_audit(engine) == [("retention", 5, 5), ("retention", 0, 0)]
    # and 166 days on, the DM of 200 days is over a year old and goes
    clock.now = NOW + timedelta(days=166)
    third = restarted.tick()
    assert third is not None and erased(engine) == [1, 2, 3, 4, 5, 8, 9]


def test_a_schedule_with_broken_rules_logs_and_waits_a_day(
        store: EventStore, engine: Engine, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    history(store)
    path = Path(write(tmp_path, {"rules": "nope"}))
    clock = Clock(NOW)
    schedule = DailyRetention(engine, path, "cl100k_base", clock=clock, max_share=0.6)
    assert schedule.tick() is None
    assert "INVALID_RETENTION_RULES" in caplog.text
    # Fixed an hour later, it is not retried before a day has passed
    path.write_text(json.dumps(RULES), encoding="utf-8")
    clock.now += timedelta(hours=1)
    assert schedule.tick() is None
    clock.now += timedelta(days=1)
    assert schedule.tick() is not None
