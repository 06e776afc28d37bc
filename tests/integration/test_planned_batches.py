"""A batch decided before the batch before it committed lands exactly where a lone batch would.

The catch-up plans each batch's sessions on the read-ahead thread from the state the
batch before handed over while that batch's rows are written. These builds use plans
(counted) and must equal a build in one batch, row for row, under several policies; a
batch before that fails after handing over its state must leave no plan behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from eventlog.events import Event
from eventlog.store import EventStore
from projections.policy import Policy
from projections.projector import Projector, catchup, fold, preload, sets
from projections.projector.fold import Plan
from projections.resolver import compile_policy
from tests.fixtures.builders import make_event
from tests.fixtures.projections import POLICIES, new_projection, snapshot
from workers.tools.workload import generate


def counted_plans(monkeypatch: pytest.MonkeyPatch) -> list[Plan]:
    made: list[Plan] = []
    original: Callable[..., Plan] = fold.plan_batch

    def counting(*args: Any) -> Plan:
        plan = original(*args)
        made.append(plan)
        return plan

    monkeypatch.setattr(catchup, "plan_batch", counting)
    return made


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_planned_batches_equal_one_batch(store: EventStore, engine: Engine,
                                         monkeypatch: pytest.MonkeyPatch,
                                         policy_name: str) -> None:
    # Given a realistic log (replies, edits, threads, resets, summaries) and a policy
    policy = Policy.model_validate(POLICIES[policy_name])
    store.append([Event.model_validate(e) for e in generate(700, seed=7)])
    plans = counted_plans(monkeypatch)
    # When one projection is built in batches of 37, each planned while the one before
    # is written, and another in one batch
    new_projection(engine, "planned", policy)
    Projector(engine, store, "planned", batch_size=37).catch_up()
    new_projection(engine, "whole", policy)
    Projector(engine, store, "whole", batch_size=100_000).catch_up()
    # Then plans were made for the batches after the first, each holding no more than
    # its own batch can touch (an event names at most two messages and two keys), so
    # what is handed on from batch to batch does not grow with the build
    assert len(plans) >= 700 // 37 - 1
    assert max(len(plan.known.index) for plan in plans) <= 2 * 37
    assert max(len(plan.known.heads) for plan in plans) <= 2 * 37
    # And both projections hold exactly the same rows
    planned, whole = snapshot(engine, "planned"), snapshot(engine, "whole")
    for table in planned:
        assert planned[table] == whole[table], table


def test_a_batch_refused_after_handing_over_its_decisions_leaves_no_plan(
        store: EventStore, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given one chat of 30 messages whose 10th is a reset command, and a database that
    # refuses to write any batch holding that command (so it is quarantined, and the
    # conversation never starts over)
    store.append([make_event(chat="c", sender="u1", text="/new" if i == 9 else f"t {i}")
                  for i in range(30)])
    with engine.connect() as conn:
        poison = conn.execute(text(
            "SELECT position FROM events e JOIN event_content c USING (position) "
            "WHERE c.text = '/new'")).scalar_one()
    write = sets.write

    def refusing(conn: Any, projection_id: int, encoding: str, compaction: Any,
                 out: Any, span: tuple[int, int]) -> int:
        if span[0] <= poison <= span[1]:
            raise psycopg.errors.NumericValueOutOfRange("refused for the test")
        return write(conn, projection_id, encoding, compaction, out, span)

    monkeypatch.setattr(sets, "write", refusing)
    # When it is built in batches of 10 (the reset's batch decides the reset, hands
    # that over to the next batch's plan, and is then refused and folded again,
    # isolating the command) and in one batch
    new_projection(engine, "batched")
    Projector(engine, store, "batched", batch_size=10).catch_up()
    new_projection(engine, "whole")
    Projector(engine, store, "whole", batch_size=100_000).catch_up()
    # Then both quarantined the command, and neither started the conversation over
    batched, whole = snapshot(engine, "batched"), snapshot(engine, "whole")
    assert {row[2] for row in batched["sessions"]} == {0}  # one epoch
    for table in batched:
        assert batched[table] == whole[table], table


@pytest.mark.parametrize("bits", [64, None], ids=["every-name-shares-a-bit", "default-size"])
def test_a_build_looks_up_only_the_names_it_may_have_indexed(
        store: EventStore, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        bits: int | None) -> None:
    # Given a realistic log, whose replies and edits point back into earlier batches,
    # and a build's record of what it indexed, in its own size or in 64 bits (so that
    # nearly every name shares a bit with an indexed one)
    store.append([Event.model_validate(e) for e in generate(700, seed=11)])
    if bits is not None:
        monkeypatch.setattr(fold.Seen, "MIN_BITS", bits)
        monkeypatch.setattr(fold.Seen, "MAX_BITS", bits)
    listed: list[int] = []
    load = preload.load

    def listing(conn: Any, projection_id: int, want: Any, span: tuple[int, int],
                names: Any = None) -> Any:
        if names is not None:
            listed.append(len(names))
        return load(conn, projection_id, want, span, names)

    monkeypatch.setattr(preload, "load", listing)
    # When one projection is built in batches of 37 with the record, and another with
    # every name looked up, under the default policy
    new_projection(engine, "recorded")
    Projector(engine, store, "recorded", batch_size=37).catch_up()
    recorded_lists = list(listed)
    monkeypatch.setattr(catchup.Projector, "_record_of_build", lambda *_: None)
    new_projection(engine, "looked_up")
    Projector(engine, store, "looked_up", batch_size=37).catch_up()
    # Then the recorded build listed the names it looked up, batch after batch (fewer
    # than the batch names when it has room: most names are new)
    assert len(recorded_lists) >= 700 // 37 - 1 and listed == recorded_lists
    if bits is None:
        assert sum(recorded_lists) < 700 // 2
    # And both hold exactly the same rows
    recorded, looked_up = snapshot(engine, "recorded"), snapshot(engine, "looked_up")
    for table in recorded:
        assert recorded[table] == looked_up[table], table


def test_a_resumed_build_keeps_no_record(store: EventStore, engine: Engine) -> None:
    # Given a build stopped after two batches (its index holds their messages)
    store.append([Event.model_validate(e) for e in generate(200, seed=3)])
    new_projection(engine, "resumed")
    Projector(engine, store, "resumed", batch_size=40).catch_up(max_batches=2)
    projector = Projector(engine, store, "resumed", batch_size=40)
    # When it is taken up again, then only a run that starts from an empty index keeps a
    # record of what it indexes: this one would miss what the first two batches indexed
    info = projector.info()
    assert info.checkpoint > 0
    assert projector._record_of_build(info.id) is None
    new_projection(engine, "fresh")
    fresh = Projector(engine, store, "fresh", batch_size=40)
    assert fresh._record_of_build(fresh.info().id) is not None


def test_a_build_drops_its_record_when_another_projector_folded_meanwhile(
        store: EventStore, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a realistic log, and a build that starts its record from an empty index
    # while another projector (one that lost its lock, finishing the batches it was
    # writing) commits two batches before the build's first
    store.append([Event.model_validate(e) for e in generate(700, seed=11)])
    new_projection(engine, "raced")
    other = Projector(engine, store, "raced", batch_size=37)
    record = catchup.Projector._record_of_build
    policy = compile_policy(other.info().policy)

    def then_another_folds(self: catchup.Projector, projection_id: int) -> Any:
        seen = record(self, projection_id)
        assert seen is not None  # the index was empty when the build looked
        other.run_batch(projection_id, policy)
        other.run_batch(projection_id, policy)
        return seen

    monkeypatch.setattr(catchup.Projector, "_record_of_build", then_another_folds)
    Projector(engine, store, "raced", batch_size=37).catch_up()
    monkeypatch.setattr(catchup.Projector, "_record_of_build", record)
    new_projection(engine, "whole")
    Projector(engine, store, "whole", batch_size=100_000).catch_up()
    # Then the build looked up what the other projector indexed, and holds exactly the
    # rows of a build in one batch
    raced, whole = snapshot(engine, "raced"), snapshot(engine, "whole")
    for table in raced:
        assert raced[table] == whole[table], table
