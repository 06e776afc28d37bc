"""The append contract, held against PostgreSQL's `EventStore` and the in-memory fake alike:
positions in order from the head, a retry a duplicate at the same position, a reused id a
conflict that costs nothing else, a batch deduplicated within itself, reads in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pytest
from sqlalchemy import Engine

from eventlog.appending import AppendResult
from eventlog.events import Event
from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from tests.fixtures.memory_store import MemoryLog


class Log(Protocol):
    def append(self, events: Sequence[Event]) -> AppendResult: ...
    def horizon(self) -> int: ...
    def read(self, after: int, limit: int) -> list[tuple[int, str, str | None]]: ...


class PostgresLog:
    """EventStore, read back as the contract reads."""

    def __init__(self, store: EventStore, engine: Engine) -> None:
        self.store, self.engine = store, engine

    def append(self, events: Sequence[Event]) -> AppendResult:
        return self.store.append(events)

    def horizon(self) -> int:
        return self.store.horizon()

    def read(self, after: int, limit: int) -> list[tuple[int, str, str | None]]:
        with self.engine.connect() as conn:
            return [(e.position, e.event_id, e.text)
                    for e in self.store.read(conn, after, limit)]


@pytest.fixture(params=["postgres", "memory"])
def log(request: pytest.FixtureRequest) -> Log:
    if request.param == "memory":
        return MemoryLog()
    return PostgresLog(request.getfixturevalue("store"), request.getfixturevalue("engine"))


def test_appends_take_the_next_positions_and_read_back_in_order(log: Log) -> None:
    first = log.append([make_event(message_id=f"a{i}", text=f"t{i}") for i in range(3)])
    second = log.append([make_event(message_id="b0", text="later")])
    assert (first.appended, second.appended, log.horizon()) == (3, 1, 4)
    assert sorted(first.positions.values()) == [1, 2, 3] and second.last_position == 4
    assert [text for _, _, text in log.read(0, 10)] == ["t0", "t1", "t2", "later"]
    assert [position for position, _, _ in log.read(2, 1)] == [3]


def test_a_retry_is_a_duplicate_at_the_same_position(log: Log) -> None:
    batch = [make_event(message_id=f"r{i}") for i in range(3)]
    first = log.append(batch)
    again = log.append(batch)
    assert (again.appended, again.duplicates, again.fresh) == (0, 3, set())
    assert again.positions == first.positions and log.horizon() == 3


def test_a_reused_id_is_a_conflict_and_the_rest_of_the_batch_lands(log: Log) -> None:
    log.append([make_event(id="gw-1", text="first")])
    result = log.append([make_event(id="gw-1", text="second"),
                         make_event(message_id="ok", text="fine")])
    assert [r.code for r in result.rejected] == ["ID_CONFLICT"]
    assert (result.appended, log.horizon()) == (1, 2)
    assert [text for _, _, text in log.read(0, 10)] == ["first", "fine"]


def test_a_batch_is_deduplicated_within_itself(log: Log) -> None:
    event = make_event(message_id="twice")
    result = log.append([event, event, make_event(id=event.event_id, text="other")])
    assert (result.appended, result.duplicates, len(result.rejected)) == (1, 1, 1)
    assert log.horizon() == 1
