"""The edge's contract: every range and encoding the log cannot store is refused with its code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from eventlog.edge import MAX_META_BYTES, MAX_META_DEPTH, MAX_POSITION, REJECTION_CODES
from eventlog.events import Event, Rejection, parse_event, parse_line
from tests.fixtures.builders import event_dict

SESSION = "8c9e4a5e-1b2c-4d3e-8f40-000000000001"


def summary(**fields: Any) -> dict[str, Any]:
    """A valid summary.recorded; fields override."""
    return event_dict(**{"type": "summary.recorded", "chat": None, "chat_type": None,
                         "sender": None, "message_id": None, "sender_name": None,
                         "session_id": SESSION, "position": 3, "text": "what was said",
                         **fields})


def with_meta(raw_meta: str) -> str:
    """A valid line whose meta is the given JSON text, verbatim (NaN and 1e400 survive)."""
    return json.dumps(event_dict())[:-1] + f', "meta": {raw_meta}}}'


def nested(depth: int) -> str:
    """meta with objects nested `depth` levels deep (meta itself is level 1)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def parsed(line: str) -> Event | Rejection | None:
    return parse_line(line, line=7)


# The observed cases: each was appended, stored as null, or a traceback.
OBSERVED = {
    "summary session_id not-a-uuid": (json.dumps(summary(session_id="not-a-uuid")),
                                      "SESSION_ID_NOT_UUID", "session_id: 'not-a-uuid'"),
    "summary position 1e30": (json.dumps(summary(position=0)).replace('"position": 0',
                                                                      '"position": 1e30'),
                              "POSITION_OUT_OF_RANGE", "position:"),
    "summary position 10**30": (json.dumps(summary(position=10**30)), "POSITION_OUT_OF_RANGE",
                                "is outside 0 to 9223372036854775807"),
    "Go's zero time": (json.dumps(event_dict(occurred_at="0001-01-01T00:00:00Z")),
                       "TIME_OUT_OF_RANGE", "Go's zero time"),
    "year 9999 with an offset": (json.dumps(event_dict(occurred_at="9999-12-31T23:00:00-05:00")),
                                 "TIME_OUT_OF_RANGE", "occurred_at: 9999-12-31T23:00:00-05:00"),
    "NUL in a text": (json.dumps(event_dict(text="before\u0000after")), "NUL_CHARACTER",
                      "text: holds a NUL character"),
    "lone surrogate inside meta": (with_meta('{"files": [{"name": "x\\udc00.png"}]}'),
                                   "LONE_SURROGATE", "meta.files[0].name: holds a lone"),
    "meta nested 300 deep": (with_meta(nested(300)), "META_TOO_DEEP", "nests deeper than 32"),
    "NaN in meta": (with_meta('{"score": NaN}'), "NON_FINITE_NUMBER", "meta.score: is NaN"),
    "1e400 in meta": (with_meta('{"score": 1e400}'), "NON_FINITE_NUMBER", "meta.score: is Inf"),
}


@pytest.mark.parametrize("case", sorted(OBSERVED))
def test_observed_bad_values_are_refused_with_their_code(case: str) -> None:
    # Given a line the issue saw accepted (or crash the ingest)
    line, code, reason = OBSERVED[case]
    # When it is parsed
    result = parsed(line)
    # Then it is a rejection with its own code and a reason naming the field, not an event
    assert isinstance(result, Rejection), result
    assert (result.line, result.code) == (7, code)
    assert reason in result.reason
    assert result.raw == line


@pytest.mark.parametrize(("occurred_at", "accepted"), [
    ("1970-01-01T00:00:00Z", True),
    ("1969-12-31T23:59:59Z", False),
    ("1970-01-01T00:30:00+01:00", False),   # 1969 once the offset is applied
    ("2199-12-31T23:59:59Z", True),
    ("2200-01-01T00:00:00Z", False),
    ("2199-12-31T23:00:00-05:00", False),   # 2200 once the offset is applied
    ("2199-12-31T23:00:00+05:00", True),
    ("0001-01-01T00:00:00+01:00", False),   # before year 1 in UTC: datetime overflows
    ("9999-12-31T23:59:59.999999Z", False),
])
def test_times_are_kept_within_a_sane_window_after_the_offset(occurred_at: str,
                                                              accepted: bool) -> None:
    # Given an event at the edge of the window
    line = json.dumps(event_dict(occurred_at=occurred_at))
    # When it is parsed
    result = parsed(line)
    # Then inside the window it is an event, outside it a TIME_OUT_OF_RANGE rejection
    if accepted:
        assert isinstance(result, Event), result
    else:
        assert isinstance(result, Rejection) and result.code == "TIME_OUT_OF_RANGE", result


@pytest.mark.parametrize(("position", "code"), [
    (0, None), (MAX_POSITION, None), (MAX_POSITION + 1, "POSITION_OUT_OF_RANGE"),
    (-1, "POSITION_OUT_OF_RANGE"), (True, "INVALID_EVENT"), (2.5, "INVALID_EVENT"),
])
def test_positions_fit_a_bigint(position: object, code: str | None) -> None:
    result = parsed(json.dumps(summary(position=position)))
    assert (result.code if isinstance(result, Rejection) else None) == code


@pytest.mark.parametrize(("session_id", "code"), [
    (SESSION, None), (SESSION.upper(), None), ("", "INVALID_EVENT"),
    ("8c9e4a5e-1b2c-4d3e-8f40", "SESSION_ID_NOT_UUID"), (12, "SESSION_ID_NOT_UUID"),
])
def test_a_summary_names_its_session_by_uuid(session_id: object, code: str | None) -> None:
    result = parsed(json.dumps(summary(session_id=session_id)))
    assert (result.code if isinstance(result, Rejection) else None) == code


def test_meta_depth_and_size_limits_are_inclusive() -> None:
    # Given meta exactly at the limits, and one step over each
    at_depth, over_depth = with_meta(nested(MAX_META_DEPTH)), with_meta(nested(MAX_META_DEPTH + 1))
    padding = MAX_META_BYTES - len('{"x":""}')
    at_size = with_meta(json.dumps({"x": "é" * (padding // 2)}, ensure_ascii=False))
    over_size = with_meta(json.dumps({"x": "é" * (padding // 2 + 1)}, ensure_ascii=False))
    # When they are parsed
    results = [parsed(line) for line in (at_depth, over_depth, at_size, over_size)]
    # Then the limits themselves are allowed, and one step over is refused with its code
    codes = [r.code if isinstance(r, Rejection) else None for r in results]
    assert codes == [None, "META_TOO_DEEP", None, "META_TOO_LARGE"]


@pytest.mark.parametrize(("fields", "code", "where"), [
    ({"chat": "chat\u0000"}, "NUL_CHARACTER", "chat:"),
    ({"sender_name": "ali\u0000ce"}, "NUL_CHARACTER", "sender_name:"),
    ({"id": "id\u0000"}, "NUL_CHARACTER", "id:"),
    ({"meta": {"k\u0000": 1}}, "NUL_CHARACTER", '"k\\u0000"] (the key)'),
    ({"meta": {"a": [[{"b": "\u0000"}]]}}, "NUL_CHARACTER", "meta.a[0][0].b:"),
    ({"text": "broken \ud83d emoji"}, "LONE_SURROGATE", "text:"),
    ({"meta": {"\udfff": 1}}, "LONE_SURROGATE", "(the key)"),
    ({"meta": {"n": float("-inf")}}, "NON_FINITE_NUMBER", "meta.n:"),
    ({"meta": {"n": 10**400}}, "NON_FINITE_NUMBER", "meta.n:"),
    ({"text": float("nan")}, "NON_FINITE_NUMBER", "text:"),
])
def test_unstorable_values_anywhere_are_refused(fields: dict[str, Any], code: str,
                                                where: str) -> None:
    # Given an event (from a gateway's Python objects, not a line) with one unstorable value
    raw = event_dict(**fields)
    # When it is validated through the public entry point and the model itself
    result = parse_event(raw, line=3)
    # Then both refuse it with the code, and the reason says where the value is
    assert isinstance(result, Rejection) and result.code == code, result
    assert where in result.reason
    with pytest.raises(ValidationError):
        Event.model_validate(raw)


def test_a_line_too_deep_or_a_number_too_long_to_read_is_a_rejection_not_a_traceback() -> None:
    deep = with_meta("[" * 100_000 + "]" * 100_000)
    long_number = with_meta('{"n": ' + "9" * 5_000 + "}")
    assert [getattr(parsed(line), "code", None) for line in (deep, long_number)] == [
        "META_TOO_DEEP", "NON_FINITE_NUMBER"]


def test_valid_events_still_parse_and_large_but_finite_numbers_are_kept() -> None:
    line = with_meta('{"snowflake": 1234567890123456789012, "ratio": 1e308, "ok": [true, null]}')
    result = parsed(line)
    assert isinstance(result, Event)
    assert result.meta == {"snowflake": 1234567890123456789012, "ratio": 1e308,
                           "ok": [True, None]}


def test_every_code_the_parser_gives_is_documented() -> None:
    lines = [case[0] for case in OBSERVED.values()] + ["{", "[]", "\xff"]
    codes = {getattr(parsed(line), "code", None) for line in lines}
    codes |= {getattr(parse_line(b"\xff\n", line=1), "code", None)}
    assert codes - {None} <= set(REJECTION_CODES)


def test_a_leap_second_is_an_rfc_3339_time_kept_in_order() -> None:
    # RFC 3339 allows time-second 60 (2016-12-31T23:59:60Z was one); datetime cannot hold it
    base = {"type": "message.received", "agent": "main", "platform": "discord", "chat": "1",
            "chat_type": "dm", "sender": "1", "message_id": "m", "text": "hi"}
    leap = Event.model_validate({**base, "occurred_at": "2016-12-31T23:59:60Z"})
    before = Event.model_validate({**base, "occurred_at": "2016-12-31T23:59:59Z"})
    after = Event.model_validate({**base, "occurred_at": "2017-01-01T00:00:00Z"})
    assert before.occurred_at < leap.occurred_at < after.occurred_at
    assert leap.event_id == Event.model_validate(
        {**base, "occurred_at": "2016-12-31T23:59:60Z"}).event_id
    # and a second of 61 is still no time
    with pytest.raises(ValidationError):
        Event.model_validate({**base, "occurred_at": "2016-12-31T23:59:61Z"})
