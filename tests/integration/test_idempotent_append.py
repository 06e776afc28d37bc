"""Idempotent append: retries append nothing; different events are never merged."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from eventlog.events import Event
from eventlog.store import EventStore
from tests.fixtures.builders import event_dict, make_event


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


def test_retried_delivery_appends_nothing(store: EventStore, engine: Engine) -> None:
    # Given a batch that was appended once
    batch = [make_event() for _ in range(5)]
    first = store.append(batch)
    # When the gateway delivers the same batch again (at-least-once)
    again = store.append(batch)
    # Then the retry counts as duplicates and the log holds each event once
    assert first.summary() == {"appended": 5, "duplicates": 0, "rejected": 0}
    assert again.summary() == {"appended": 0, "duplicates": 5, "rejected": 0}
    assert count(engine) == 5


def test_duplicates_inside_one_batch_are_appended_once(store: EventStore) -> None:
    event = make_event()
    result = store.append([event, event, event])
    assert result.summary() == {"appended": 1, "duplicates": 2, "rejected": 0}


@pytest.mark.parametrize("difference", [
    {"chat": "1000000002"},
    {"agent": "support"},
    {"platform": "telegram"},
    {"account": "second-bot"},
    {"topic": "thread-9"},
    {"type": "message.deleted", "text": None, "sender": None},
])
def test_same_message_id_elsewhere_is_a_different_event(store: EventStore, engine: Engine,
                                                        difference: dict[str, object]) -> None:
    # Given a message and another with the same platform message id but another address/type
    original = event_dict(message_id="42")
    other = {**original, **difference}
    other = {key: value for key, value in other.items() if value is not None}
    # When both are appended
    result = store.append([Event.model_validate(original), Event.model_validate(other)])
    # Then both are kept: identity includes the address and the type
    assert result.appended == 2
    assert count(engine) == 2


def test_edits_of_one_message_at_different_times_are_distinct(store: EventStore) -> None:
    first = make_event(type="message.edited", message_id="7", text="v2",
                       occurred_at="2026-03-01T12:00:00Z")
    second = make_event(type="message.edited", message_id="7", text="v3",
                        occurred_at="2026-03-01T12:05:00Z")
    assert store.append([first, second]).appended == 2


def test_reused_id_with_different_content_is_refused_not_merged(store: EventStore,
                                                                engine: Engine) -> None:
    # Given an event appended under the gateway's own id
    store.append([make_event(id="gw-1", text="the original")])
    # When a different event arrives under the same id
    result = store.append([make_event(id="gw-1", text="something else"), make_event()])
    # Then it is refused with a reason, the other event of the batch is appended,
    # and the stored original is untouched
    assert result.appended == 1
    assert [r.code for r in result.rejected] == ["ID_CONFLICT"]
    assert "different event" in result.rejected[0].reason
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT c.text FROM events e JOIN event_content c "
                                   "USING (position) WHERE e.event_id = 'gw-1'"))
        assert stored.scalar_one() == "the original"


def test_the_append_counts_no_tokens_and_reads_count_them_once(
        store: EventStore, engine: Engine) -> None:
    texts = ["hello", "The quick brown fox jumps over the lazy dog.", "", "naïve café 日本語"]
    store.append([make_event(text=t) for t in texts])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(tokens) FROM events")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM token_counts")).scalar_one() == 0
    read = [e.tokens for e in store.iter_events()]
    assert read == [store.counter.count(t) for t in texts]
    assert read[2] == 0 and max(read) >= 10
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM token_counts")).scalar_one() == 4


def test_large_batch_keeps_input_order_in_positions(store: EventStore) -> None:
    batch = [make_event(text=f"line {i}") for i in range(12_000)]
    assert store.append(batch).appended == 12_000
    read = list(store.iter_events(batch_size=5_000))
    assert [e.text for e in read] == [f"line {i}" for i in range(12_000)]
    assert [e.position for e in read] == sorted({e.position for e in read})


def test_stats_and_tail(store: EventStore) -> None:
    store.append([make_event(), make_event(platform="telegram", chat="-100", chat_type="group")])
    stats = store.stats()
    assert stats["events"] == 2 and stats["head"] == 2
    assert stats["by_platform"] == {"discord": 1, "telegram": 1}
    assert [e.position for e in store.tail(1)] == [2]
