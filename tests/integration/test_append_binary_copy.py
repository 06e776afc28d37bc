"""The append's binary COPY stores every value as it was, and content finds its position."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, text

from eventlog.events import Event, parse_event
from eventlog.store import EventStore
from tests.fixtures.builders import event_dict

AWKWARD = "tab\there, new\nline, back\\slash, quote\" é 🙂 \u2028 \x7f \x1b[2J \\N"


def events(count: int, **fields: Any) -> list[Event]:
    parsed = [parse_event(event_dict(message_id=f"m{n}", text=f"text of m{n}", **fields))
              for n in range(count)]
    assert all(isinstance(event, Event) for event in parsed)
    return [event for event in parsed if isinstance(event, Event)]


def test_awkward_values_come_back_exactly(store: EventStore, engine: Engine) -> None:
    # Given events whose every text column and meta hold what a text COPY must escape
    meta = {"f": [1e-05, 1e16, 0.1, -0.0], "big": 2**70, "nested": {"k\t": [None, True]},
            "s": AWKWARD}
    batch = events(3, sender_name=AWKWARD, chat=AWKWARD, topic="\\", meta=meta)
    # When they are appended
    result = store.append(batch)
    # Then every column, the payload and the content read back equal to what was sent
    assert result.appended == 3
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.event_id, e.fingerprint, e.chat, e.topic, e.occurred_at, e.payload, "
            "c.text, c.sender_name, c.meta FROM events e JOIN event_content c "
            "USING (position) ORDER BY position")).all()
    for event, row in zip(batch, rows, strict=True):
        whole = json.loads(event.canonical_json())
        assert row.event_id == event.event_id
        assert bytes(row.fingerprint).hex() == event.fingerprint()
        assert (row.chat, row.topic, row.occurred_at) == (AWKWARD, "\\", event.occurred_at)
        assert row.payload == {k: v for k, v in whole.items()
                               if k not in ("text", "sender_name", "meta")}
        assert (row.text, row.sender_name, row.meta) == (event.text, AWKWARD, whole["meta"])


def test_content_keeps_its_event_across_a_gap_in_positions(store: EventStore,
                                                          engine: Engine) -> None:
    # Given a database where something draws positions in the middle of an append
    with engine.begin() as conn:
        conn.execute(text("""
            CREATE FUNCTION test_gap() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.message_id IN ('m3', 'm7') THEN
                    PERFORM nextval(pg_get_serial_sequence('events', 'position'));
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_gap BEFORE INSERT ON events
                FOR EACH ROW EXECUTE FUNCTION test_gap();"""))
    # When a batch is appended, and another after it
    first = store.append(events(10))
    second = store.append(events(4, chat="other"))
    # Then each event's content sits at the event's own position, gaps or not
    assert (first.appended, second.appended) == (10, 4)
    with engine.connect() as conn:
        pairs = conn.execute(text(
            "SELECT e.message_id, c.text, e.position FROM events e "
            "JOIN event_content c USING (position) ORDER BY position")).all()
    assert [(message_id, content) for message_id, content, _ in pairs] == [
        (f"m{n}", f"text of m{n}") for n in [*range(10), *range(4)]]
    positions = [position for _, _, position in pairs]
    assert positions[-1] - positions[0] + 1 > len(positions)  # the gaps were there
    assert second.last_position == positions[-1]
