"""The shipped sample and generated workloads of different seeds share one log without
sharing an event id: nothing of one is refused as a conflict with (or duplicate of)
another, which is what `convlog demo` shows as `rejected: 0`."""

from __future__ import annotations

import json
from itertools import chain

from eventlog.ingest import ingest_lines
from eventlog.store import EventStore
from workers.tools.workload import generate, sample_path

SEEDS = (0, 1, 2)
EACH = 3_000


def test_the_sample_and_three_seeds_share_one_log_without_a_refusal(store: EventStore) -> None:
    # Given the sample and three seeds' workloads
    sample = [line for line in sample_path().read_bytes().splitlines() if line.strip()]
    seeded = [json.dumps(event).encode() for seed in SEEDS for event in generate(EACH, seed)]
    # When they are ingested into one log
    result = ingest_lines(store, chain(sample, seeded))
    # Then every event of each is appended: none refused, none taken for another's duplicate
    assert (result.rejected, result.duplicates) == (0, 0)
    assert result.appended == len(sample) + len(SEEDS) * EACH
