"""The fast append path writes what the json-based one wrote, byte for byte, and reads alike.

Fingerprints and derived ids of events appended long ago were taken of
`json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":"))`: a
gateway's retry must still be a duplicate, never an ID_CONFLICT. The references
below are that code, kept here verbatim as the contract the fast path is held to.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from eventlog.appending import CONTENT_FIELDS, prepare
from eventlog.edge import escapes_nothing_unsafe
from eventlog.events import Event, Rejection, parse_event, parse_text
from eventlog.jsontext import canonical_json, read_json, writes_as_json
from tests.fixtures.event_strategies import fuzzed_lines, valid_events
from tests.fixtures.profiles import examples


def reference_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def reference_event_id(event: Event) -> str:
    if event.id is not None:
        return event.id
    if event.message_id is not None:
        parts: list[str | None] = [
            event.agent, event.platform, event.account, event.space, event.chat,
            event.topic, event.type, event.message_id,
        ]
        if event.type == "message.edited":
            parts.append(event.occurred_at.isoformat())
    else:
        parts = [reference_json(event.model_dump(mode="json", exclude_none=True))]
    return "d:" + hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:40]


# Floats of every magnitude: repr switches to an exponent below 1e-4 and from 1e16,
# where serializers part ways (orjson writes 1e-05 as 0.00001).
magnitudes = st.builds(lambda mantissa, exponent: mantissa * 10.0 ** exponent,
                       st.floats(-10, 10, allow_nan=False), st.integers(-330, 308))
floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), magnitudes,
                   st.sampled_from([1e-5, 1e-4, 1e15, 1e16, 1e21, 1e22, 5e-324, -0.0,
                                    1.7976931348623157e308, 0.1, 123456789012345678.0]))
integers = st.one_of(st.integers(), st.integers(-2**80, 2**80),
                     st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63, -2**63 - 1,
                                      10**308, -(10**308)]))
# Every code point, lone surrogates and controls included.
texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), floats, integers, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner,
                                                                         max_size=4)),
    max_leaves=16)


@settings(max_examples=examples(1000), deadline=None)
@given(json_values)
@example(1e-05)
@example({"b": [1e-7, 2**64, "\ud800"], "a": {"é": 1e16, "\U0001f600": "\x00\x1f\x7f"}})
def test_canonical_json_is_the_json_module_byte_for_byte(value: Any) -> None:
    assert canonical_json(value) == reference_json(value)


@settings(max_examples=examples(500), deadline=None)
@given(json_values)
def test_a_checked_value_writes_alike_without_the_walk(value: Any) -> None:
    # `checked` may be passed only when the walk would say so; then the bytes agree too
    assume(writes_as_json(value))
    assert canonical_json(value, checked=True) == reference_json(value)


metas = st.dictionaries(texts.filter(lambda key: "\x00" not in key and key.isprintable()),
                        json_values, max_size=5)


@settings(max_examples=examples(600), deadline=None)
@given(valid_events(), st.one_of(st.none(), metas), st.one_of(st.none(), texts))
def test_prepared_events_are_identical_to_the_json_based_ones(
        raw: dict[str, Any], meta: dict[str, Any] | None, given_id: str | None) -> None:
    # Given any valid event, with any meta the edge accepts and perhaps the gateway's id
    if meta is not None:
        raw["meta"] = meta
    if given_id:
        raw["id"] = given_id
    event = parse_event(raw)
    assume(isinstance(event, Event))
    assert isinstance(event, Event)
    # When it is prepared for an append
    [item] = prepare([event])
    # Then its id, fingerprint and every JSON column are what the json module gave
    whole = event.model_dump(mode="json", exclude_none=True)
    payload = reference_json(whole)
    assert item.payload_json == payload
    assert item.fingerprint == hashlib.sha256(payload.encode()).digest()
    assert item.event_id == event.event_id == reference_event_id(event)
    assert event.fingerprint() == hashlib.sha256(payload.encode()).hexdigest()
    assert item.envelope_json == reference_json(
        {name: value for name, value in whole.items() if name not in CONTENT_FIELDS})
    assert item.meta_json == (None if event.meta is None else reference_json(event.meta))
    assert event.payload_view() == whole


def same(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down (1, 1.0 and True are not the same)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


number_literals = st.from_regex(
    r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z")
json_texts = st.one_of(
    st.tuples(json_values, st.booleans()).map(
        lambda pair: json.dumps(pair[0], ensure_ascii=pair[1])),
    st.lists(number_literals, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
    number_literals.map(lambda number: '{"n": ' + number + ', "n": 1, "m": ' + number + "}"),
    st.sampled_from(["NaN", "[Infinity]", '"\\ud800"', '"\\ud83d\\ude00"', '"\\ud83d\\u0041"',
                     "[" * 70 + "]" * 70, "[" * 3000 + "]" * 3000, '{"a":1,"a":2}', "-0",
                     "1e400", "1" * 5000, " [1 ,2] ", "\ufeff{}", "{'a': 1}", "[1,]"]),
    st.text(max_size=20),
)


def outcome(read: Any, text: str) -> tuple[str, Any]:
    try:
        return "value", read(text)
    except json.JSONDecodeError as error:
        return "malformed", (error.msg, error.colno)
    except (RecursionError, ValueError) as error:
        return type(error).__name__, None


@settings(max_examples=examples(1000), deadline=None)
@given(json_texts)
def test_reading_a_line_is_the_json_module_value_for_value(text: str) -> None:
    # Same values of the same types, or the same error (a rejection quotes its message)
    fast, reference = outcome(read_json, text), outcome(json.loads, text)
    assert fast[0] == reference[0]
    assert same(fast[1], reference[1]) if fast[0] == "value" else fast == reference


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in strings_in(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


@settings(max_examples=examples(800), deadline=None)
@given(json_values, st.booleans())
def test_a_line_without_escapes_holds_no_unsafe_character(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    from_utf8 = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") == text
    if escapes_nothing_unsafe(text, from_utf8=from_utf8):
        assert not any("\x00" in s or any(0xD800 <= ord(c) <= 0xDFFF for c in s)
                       for s in strings_in(json.loads(text)))


@settings(max_examples=examples(800), deadline=None)
@given(fuzzed_lines())
def test_skipping_the_string_checks_never_changes_a_result(line: bytes) -> None:
    # Every line parses to what the edge, checking every string, makes of it
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return
    fast = parse_text(text, line=1, from_utf8=True)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        assert fast is None or isinstance(fast, Rejection)
        return
    full = parse_event(value, line=1, raw=text, strings_checked=False)
    if isinstance(full, Rejection):
        assert isinstance(fast, Rejection)
        assert (fast.code, fast.reason, fast.raw) == (full.code, full.reason, full.raw)
    else:
        assert isinstance(fast, Event) and fast == full
