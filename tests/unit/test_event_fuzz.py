"""Random JSON at every field: each line is an event or a coded rejection, never a traceback."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog.edge import REJECTION_CODES
from eventlog.events import Event, Rejection, parse_event, parse_line
from tests.fixtures.event_strategies import fuzzed_lines, valid_events
from tests.fixtures.profiles import examples


@settings(max_examples=examples(600), deadline=None)
@given(fuzzed_lines())
def test_every_line_is_an_event_or_a_coded_rejection(line: bytes) -> None:
    # Given any line: a valid event, random JSON in some of its fields, or noise
    # When it is parsed
    parsed = parse_line(line, line=1)
    # Then it is blank, a rejection with a documented code, or an event the log can
    # store exactly: strict JSON, and a retry of what was stored is the same event
    if isinstance(parsed, Rejection):
        assert parsed.code in REJECTION_CODES
        assert parsed.reason
    elif isinstance(parsed, Event):
        stored = json.dumps(parsed.as_payload(), allow_nan=False)
        assert "\\u0000" not in stored
        stored.encode("utf-8")  # no lone surrogate survives
        again = parse_event(json.loads(stored))
        assert isinstance(again, Event) and again.fingerprint() == parsed.fingerprint()
        assert again.event_id == parsed.event_id
    else:
        assert parsed is None and not line.strip()


@settings(max_examples=examples(200), deadline=None)
@given(valid_events())
def test_the_valid_strategy_makes_valid_events(event: dict[str, object]) -> None:
    # Guards the property tests: if this strategy drifted, "all that landed" would be nothing
    assert isinstance(parse_event(event), Event), parse_event(event)


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(st.sampled_from(["meta", "text", "position", "occurred_at"]),
                       st.floats() | st.integers() | st.text()))
def test_python_objects_with_any_scalar_never_raise(fields: dict[str, object]) -> None:
    result = parse_event({"type": "message.received", "agent": "a", "platform": "p", **fields})
    assert isinstance(result, Event | Rejection)


def test_a_line_of_whitespace_json_does_not_know_is_refused_not_skipped() -> None:
    valid = json.dumps({"type": "message.received", "agent": "main", "platform": "discord",
                        "chat": "1", "chat_type": "dm", "sender": "1", "message_id": "m1",
                        "text": "hi", "occurred_at": "2026-01-01T00:00:00Z"}).encode()
    # JSON's own whitespace is a blank line, skipped
    assert parse_line(b" \t\r\n", line=1) is None
    # a line of U+00A0 or U+2028 alone is refused with a code, so no line vanishes
    for noise in ("\u00a0".encode(), "\u2028 ".encode()):
        refused = parse_line(noise, line=2)
        assert isinstance(refused, Rejection) and refused.code == "MALFORMED_JSON"
    # and an event with such whitespace around it is still read
    assert isinstance(parse_line("\u00a0".encode() + valid, line=3), Event)
