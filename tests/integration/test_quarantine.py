"""A poison event never stops a projection: it is quarantined with its error, the rest goes on."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.errors import PoisonEvent
from projections.parallel import plan_slices
from projections.policy import Policy
from projections.projector import Projector
from projections.queries import quarantined_count, quarantined_events
from projections.registry import get
from tests.fixtures.builders import make_event
from tests.fixtures.profiles import examples
from tests.fixtures.projections import new_projection, snapshot
from tests.fixtures.unchecked import append_unchecked, message, summary
from tests.integration.test_incremental_equals_rebuild import (
    MAX_ATTEMPTS,
    Crash,
    random_stream,
    split,
)
from workers.cli.main import main
from workers.jobs import catch_up_projection

# Daily resets in a zone west of UTC: converting Go's zero time there overflows.
DAILY_NEW_YORK = {"reset": {"mode": "daily", "at_hour": 4, "timezone": "America/New_York"}}
ZERO = "0001-01-01T00:00:00Z"
# 9999-12-31T23:00:00-05:00 in UTC: PostgreSQL stores it, Python cannot load it.
YEAR_10000 = "10000-01-01T04:00:00Z"


def quarantine(engine: Engine, name: str) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        return [(q.position, q.code, q.error)
                for q in quarantined_events(conn, get(conn, name).id)]


def checkpoints(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, checkpoint FROM projections")).all())


def horizon(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT max(position) FROM events")).scalar_one())


def member_positions(engine: Engine, name: str) -> set[int]:
    with engine.connect() as conn:
        return {p for (p,) in conn.execute(text(
            "SELECT position FROM session_members WHERE projection_id = :p"),
            {"p": get(conn, name).id})}


def first_session_id(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT session_id FROM sessions LIMIT 1")).scalar_one())


def poison_for(case: str, engine: Engine) -> dict[str, Any]:
    """The three events observed to stop every projection for good."""
    if case == "summary session_id not a UUID":
        return summary("not-a-uuid", 1)
    if case == "summary position beyond bigint":
        return summary(first_session_id(engine), 1e30)
    # Go's zero time, first in its chat, followed there by an ordinary message
    return message(chat="zero-time", occurred_at=ZERO)


CASES = {
    "summary session_id not a UUID": "INVALID_SESSION_ID",
    "summary position beyond bigint": "POSITION_OUT_OF_RANGE",
    "message at Go's zero time": "TIME_OUT_OF_RANGE",
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_poison_event_is_quarantined_and_every_projection_goes_on(
        case: str, store: EventStore, engine: Engine, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a projected log, then a poison event an older version accepted, then
    # ordinary traffic (one message in the poison's own chat)
    store.append([make_event(text=f"before {i}") for i in range(3)])
    assert main(["catch-up"]) == 0
    poison = append_unchecked(engine, poison_for(case, engine))
    store.append([make_event(text="after"), make_event(chat="zero-time", text="same chat")])
    policy = tmp_path / "daily.json"
    policy.write_text(json.dumps(DAILY_NEW_YORK), encoding="utf-8")
    capsys.readouterr()
    # When the projections catch up and a new projection is created
    caught_up = main(["catch-up"])
    created = main(["projection", "create", "daily", "--policy", str(policy)])
    # Then both succeed, every checkpoint reaches the head of the log, the poison is
    # quarantined under its code in each projection and every other event is folded
    out = capsys.readouterr()
    assert (caught_up, created) == (0, 0), out.err
    assert set(checkpoints(engine).values()) == {horizon(engine)}
    for name in ("default", "daily"):
        [(position, code, error)] = quarantine(engine, name)
        assert (position, code) == (poison, CASES[case]) and error
    members = member_positions(engine, "daily")
    assert poison not in members and set(range(1, horizon(engine) + 1)) - {poison} <= members


def test_list_show_sessions_and_catch_up_report_quarantined_events(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a log with one poison event
    store.append([make_event()])
    poison = append_unchecked(engine, summary("not-a-uuid", 1))
    store.append([make_event()])
    # When the operator catches up and looks at the projection and its sessions
    assert main(["catch-up"]) == 0
    caught_up = capsys.readouterr().out
    assert main(["projection", "list"]) == 0
    listed = capsys.readouterr().out
    assert main(["projection", "show", "default"]) == 0
    shown = capsys.readouterr().out
    assert main(["projection", "show", "default", "--json"]) == 0
    shown_json = json.loads(capsys.readouterr().out)
    assert main(["sessions"]) == 0
    sessions_err = capsys.readouterr().err
    # Then each says that one event is quarantined, and show names it
    assert "1 quarantined" in caught_up
    assert "quarantined" in listed and "1" in listed
    assert f"position {poison}" in shown and "INVALID_SESSION_ID" in shown
    assert shown_json["quarantined"] == 1
    assert shown_json["quarantined_events"][0]["position"] == poison
    assert "1 event" in sessions_err and "quarantined" in sessions_err


def test_the_worker_quarantines_logs_and_does_not_retry(
        store: EventStore, engine: Engine, cli_env: str,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a poison event in the log
    store.append([make_event()])
    poison = append_unchecked(engine, message(chat="zero-time", occurred_at=ZERO))
    store.append([make_event(), make_event(chat="zero-time")])
    # When the worker's actor catches the default projection up
    with caplog.at_level(logging.INFO, logger="convlog"):
        catch_up_projection("default")
    # Then it did not raise (dramatiq would retry it forever), the projection is
    # caught up, and its log names the quarantined event
    assert checkpoints(engine)["default"] == horizon(engine)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"position {poison}" in w and "TIME_OUT_OF_RANGE" in w for w in warnings)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_strict_mode_stops_at_the_poison_event_instead(
        how: str, store: EventStore, engine: Engine, cli_env: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Given two good events, a poison one, and another good one
    store.append([make_event(), make_event()])
    poison = append_unchecked(engine, summary("not-a-uuid", 1))
    store.append([make_event()])
    # When catch-up runs in strict mode
    args = ["catch-up"]
    if how == "flag":
        args.append("--strict")
    else:
        monkeypatch.setenv("CONVLOG_STRICT_PROJECTION", "1")
    status = main(args)
    # Then it stops with one line naming the event, having folded what came before
    err = capsys.readouterr().err
    assert status == 2
    assert "POISON_EVENT" in err and f"position {poison}" in err and "Traceback" not in err
    assert checkpoints(engine)["default"] == poison - 1
    assert quarantine(engine, "default") == []


def test_a_strict_projector_keeps_what_precedes_the_poison_and_stops(store: EventStore,
                                                             engine: Engine) -> None:
    # Given a poison event in the middle of one batch
    store.append([make_event() for _ in range(4)])
    poison = append_unchecked(engine, summary("not-a-uuid", 1))
    store.append([make_event() for _ in range(4)])
    # When a strict projector folds it in one batch, twice
    for _ in range(2):
        with pytest.raises(PoisonEvent) as raised:
            Projector(engine, store, strict=True).catch_up()
        # Then it keeps the part of the batch before the poison event, stops there,
        # and the error names the position and the cause
        assert raised.value.code == "POISON_EVENT" and raised.value.position == poison
        assert "INVALID_SESSION_ID" in str(raised.value)
        assert checkpoints(engine)["default"] == poison - 1
        assert member_positions(engine, "default") == set(range(1, poison))


def test_a_new_projection_retries_quarantined_events(store: EventStore, engine: Engine) -> None:
    # Given a summary that cannot be written (covers a position beyond bigint),
    # quarantined by the default projection
    store.append([make_event()])
    Projector(engine, store).catch_up()
    session_id = first_session_id(engine)
    poison = append_unchecked(engine, summary(session_id, 2**63))
    Projector(engine, store).catch_up()
    assert [q[:2] for q in quarantine(engine, "default")] == [(poison, "POSITION_OUT_OF_RANGE")]
    # When a projection is built afresh, and the old one is dropped
    new_projection(engine, "fresh")
    Projector(engine, store, "fresh").catch_up()
    with engine.begin() as conn:
        from projections.registry import activate, drop

        activate(conn, get(conn, "fresh"))
        drop(conn, get(conn, "default"))
    # Then the new one folded everything again (and met the same event), and the
    # dropped projection's quarantine went with it
    assert [q[:2] for q in quarantine(engine, "fresh")] == [(poison, "POSITION_OUT_OF_RANGE")]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM quarantined_events")).scalar_one() == 1
        assert quarantined_count(conn, get(conn, "fresh").id) == 1


def test_a_batch_with_many_poison_events_isolates_each(store: EventStore,
                                                       engine: Engine) -> None:
    # Given poison events spread through a log of ordinary ones
    poisons = []
    for i in range(40):
        store.append([make_event(text=f"t{i}")])
        if i % 7 == 3:
            poisons.append(append_unchecked(engine, summary(f"bad-{i}", 1)))
    # When one projection folds it in one batch and another one event at a time
    new_projection(engine, "small")
    Projector(engine, store, batch_size=1_000).catch_up()
    Projector(engine, store, "small", batch_size=1).catch_up()
    # Then both quarantined exactly the poison events and agree on everything else
    assert [q[0] for q in quarantine(engine, "default")] == poisons
    assert quarantine(engine, "default") == quarantine(engine, "small")
    assert snapshot(engine, "default") == snapshot(engine, "small")


def test_an_event_the_driver_cannot_load_is_quarantined_in_every_kind_of_build(
        store: EventStore, engine: Engine) -> None:
    # Given a time Python cannot hold stored between ordinary events
    store.append([make_event(text=f"before {i}", chat=f"c{i % 2}") for i in range(7)])
    unreadable = append_unchecked(engine, message(), stored_time=YEAR_10000)
    store.append([make_event(text=f"after {i}", chat=f"c{i % 2}") for i in range(7)])
    # When it is projected in one batch, in batches of three, and in two slices
    new_projection(engine, "small")
    new_projection(engine, "sliced")
    Projector(engine, store).catch_up()
    Projector(engine, store, "small", batch_size=3).catch_up()
    with engine.begin() as conn:
        plan_slices(conn, store, "sliced", 2)
    Projector(engine, store, "sliced", batch_size=2).catch_up()
    # Then each quarantined that event alone, folded every other, and they agree
    for name in ("default", "small", "sliced"):
        [(position, code, error)] = quarantine(engine, name)
        assert (position, code) == (unreadable, "UNREADABLE_EVENT")
        assert "year 10K" in error
        assert member_positions(engine, name) == set(range(1, 16)) - {unreadable}
        assert checkpoints(engine)[name] == 15
    assert snapshot(engine, "default") == snapshot(engine, "small") == snapshot(engine, "sliced")


# -- incremental equals rebuild, quarantine included ------------------------------------

POLICIES = [
    {},
    {"dimensions": ["chat", "sender"], "threads": {"inherit_parent": True},
     "reset": {"mode": "both", "idle_minutes": 90, "at_hour": 4,
               "timezone": "America/New_York"},
     "compaction": {"summarize_threshold": 4, "context_limit_tokens": 400}},
    {"dimensions": ["space"], "threads": {"isolate": False}, "dm_scope": "main",
     "reset": {"mode": "daily", "at_hour": 23, "timezone": "Pacific/Kiritimati"}},
]
POISONS: list[Callable[[random.Random], tuple[dict[str, Any], str | None]]] = [
    lambda rng: (summary(rng.choice(["not-a-uuid", "", "42"]), 1), None),
    lambda rng: (summary("00000000-0000-0000-0000-000000000000",
                         rng.choice([1e30, -1, 2**63])), None),
    lambda rng: (message(chat=rng.choice(["c1", "c2", "zero"]), occurred_at=ZERO,
                         sender=rng.choice(["u1", "u2"])), None),
    lambda rng: (message(chat="c1", occurred_at="9999-12-31T23:59:59Z"), None),
    lambda rng: (message(chat="c2"), YEAR_10000),
]

@settings(max_examples=examples(8), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 100), policy_index=st.integers(0, 2))
def test_with_poison_events_incremental_with_crashes_equals_rebuild(
        database_factory: Callable[[], AbstractContextManager[str]], token_counter: TokenCounter,
        seed: int, n: int, policy_index: int) -> None:
    rng = random.Random(seed)
    policy = Policy.model_validate(POLICIES[policy_index])
    events = random_stream(seed, n, policy)
    with database_factory() as url:
        engine = create_engine(url)
        store = EventStore(engine, token_counter)
        try:
            # Given an incremental projection fed in random chunks, with poison
            # events between them, random batch sizes and crashes at random points
            new_projection(engine, "incremental", policy)

            def hook(point: str, count: int) -> None:
                if rng.random() < 0.15:
                    raise Crash(point)

            for chunk in split(rng, events):
                store.append(chunk)
                for _ in range(rng.choice([0, 0, 1, 2])):
                    payload, stored_time = rng.choice(POISONS)(rng)
                    append_unchecked(engine, payload, stored_time=stored_time)
                for _attempt in range(MAX_ATTEMPTS):
                    projector = Projector(engine, store, "incremental",
                                          batch_size=rng.randint(1, 30), hook=hook)
                    try:
                        projector.catch_up()
                        break
                    except Crash:
                        continue
                else:
                    pytest.fail(f"no catch-up survived {MAX_ATTEMPTS} attempts")
            # When the same policy is rebuilt from scratch in one pass
            new_projection(engine, "rebuild", policy)
            Projector(engine, store, "rebuild", batch_size=100_000).catch_up()
            # Then both hold the same sessions and the same quarantine
            assert checkpoints(engine)["incremental"] == checkpoints(engine)["rebuild"]
            assert quarantine(engine, "incremental") == quarantine(engine, "rebuild")
            incremental, rebuilt = snapshot(engine, "incremental"), snapshot(engine, "rebuild")
            for table in incremental:
                assert incremental[table] == rebuilt[table], table
        finally:
            engine.dispose()
