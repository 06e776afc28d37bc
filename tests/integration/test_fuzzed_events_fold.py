"""What the log accepts, every projection folds: fuzzed lines land or are rejected with a code,
and every example policy then folds all that landed, with nothing quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from eventlog.edge import REJECTION_CODES
from eventlog.events import Rejection
from eventlog.ingest import ingest_lines
from eventlog.store import EventStore
from projections.policy import load_policy
from projections.projector import Projector
from projections.registry import get
from tests.fixtures.event_strategies import fuzzed_lines
from tests.fixtures.projections import new_projection

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))


@pytest.mark.parametrize("examples", [
    60,  # under 10 s: the default run
    pytest.param(800, marks=pytest.mark.slow),
])
def test_fuzzed_lines_land_or_are_rejected_and_every_example_policy_folds_them(
        examples: int, engine: Engine, store: EventStore) -> None:
    landed = 0

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(fuzzed_lines(), min_size=8, max_size=30))
    def each_line_lands_or_is_rejected_with_a_code(lines: list[bytes]) -> None:
        nonlocal landed
        # Given a file of random lines (valid events, random JSON in their fields, noise)
        rejected: list[Rejection] = []
        # When it is ingested
        result = ingest_lines(store, lines, batch_size=7, on_rejection=rejected.append)
        # Then every non-blank line is accounted for, and each rejection carries a code
        expected = sum(1 for line in lines if line.strip()) or 1  # or EMPTY_INPUT
        assert result.appended + result.duplicates + result.rejected == expected
        assert len(rejected) == result.rejected
        assert {r.code for r in rejected} <= set(REJECTION_CODES)
        landed += result.appended

    each_line_lands_or_is_rejected_with_a_code()
    assert landed > 0, "the strategy produced no valid event; the property would be empty"
    # When every example policy folds the whole log
    with engine.connect() as conn:
        head = int(conn.execute(text("SELECT coalesce(max(position), 0) FROM events"))
                   .scalar_one())
    for path in EXAMPLES:
        new_projection(engine, path.stem, load_policy(path))
        Projector(engine, store, path.stem, batch_size=50).catch_up()
        # Then its checkpoint reaches the head, with no event set aside
        with engine.connect() as conn:
            info = get(conn, path.stem)
            quarantined = conn.execute(text(
                "SELECT count(*) FROM quarantined_events WHERE projection_id = :p"),
                {"p": info.id}).scalar_one()
        assert (path.stem, info.checkpoint, quarantined) == (path.stem, head, 0)
