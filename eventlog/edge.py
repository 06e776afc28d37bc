"""The edge's limits and codes: what the log can store faithfully, checked before the model."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticCustomError

# The edge's limits; docs/events.md lists them with their codes.
# Chat platforms postdate 1970, and a window that ends in 2200 keeps every reset a
# policy can compute (a daily reset in any time zone) far inside datetime's range.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
MAX_POSITION = 2**63 - 1  # positions are bigint
MAX_META_DEPTH = 32  # meta itself is level 1; only objects and arrays count
MAX_META_BYTES = 64 * 1024  # meta as compact UTF-8 JSON
_LARGEST_FLOAT = int(sys.float_info.max)

# Every code a Rejection can carry, with what it means (docs/events.md says what to do).
REJECTION_CODES: dict[str, str] = {
    "INVALID_EVENT": "the event breaks the contract: a field missing, unknown or mistyped",
    "MALFORMED_JSON": "the line is not JSON",
    "INVALID_UTF8": "the line is not UTF-8",
    "EMPTY_INPUT": "the input held no event at all",
    "ID_CONFLICT": "the id is already used by a different event",
    "TIME_OUT_OF_RANGE": "occurred_at is before 1970-01-01 or from 2200-01-01 on (in UTC)",
    "POSITION_OUT_OF_RANGE": f"position is negative or over {MAX_POSITION} (bigint)",
    "SESSION_ID_NOT_UUID": "session_id is not a UUID",
    "NUL_CHARACTER": "a string or key holds U+0000, which PostgreSQL cannot store",
    "LONE_SURROGATE": "a string or key holds half a UTF-16 surrogate pair: not Unicode",
    "NON_FINITE_NUMBER": "a number is NaN, Infinity or beyond a 64-bit float (1e400)",
    "META_TOO_DEEP": f"meta nests objects or arrays more than {MAX_META_DEPTH} levels deep",
    "META_TOO_LARGE": f"meta is over {MAX_META_BYTES} bytes as compact JSON",
    "DATABASE_REFUSED": "the database refused the event itself (its reason is given)",
}


def coded(code: str, message: str, where: str | None = None) -> PydanticCustomError:
    # The code is the error's type, so a Rejection can carry it; the message goes
    # through context because user data in a template could hold its braces.
    context = {"detail": message} if where is None else {"detail": message, "where": where}
    return PydanticCustomError(code, "{detail}", context)


@dataclass(frozen=True, slots=True)
class Unstorable:
    """A value the log could not store faithfully, where it is, and its code."""

    code: str
    where: str
    message: str


_UNSAFE_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def _unsafe(text: str) -> bool:
    """Whether `text` holds a NUL or a lone surrogate: in C, and O(1) for ASCII text.

    Three times faster than the regular expression on chat text, which is what
    the ingest path spends its time on.
    """
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")


# Where a value sits, as (parent trail, key): built cheaply for every value during
# the walk, rendered as `meta.files[0].name` only for the one that is refused.
Trail = tuple[Any, ...]


def _string_problem(value: str, where: str) -> Unstorable | None:
    found = _UNSAFE_CHARACTER.search(value)
    if found is None:
        return None
    at = f"at character {found.start()}"
    if found.group() == "\x00":
        return Unstorable("NUL_CHARACTER", where,
                          f"holds a NUL character (\\u0000) {at}, which PostgreSQL cannot "
                          "store; drop it, or encode binary data (base64) in meta")
    return Unstorable("LONE_SURROGATE", where,
                      f"holds a lone UTF-16 surrogate (\\u{ord(found.group()):04x}) {at}, "
                      "which is not valid Unicode; fix the escaping (e.g. \\ud83d without "
                      "its pair)")


def _number_problem(value: Any, where: str) -> Unstorable | None:
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        shown = "NaN" if math.isnan(value) else "Infinity or beyond a 64-bit float (1e400)"
        why = "which JSON cannot carry (it would be stored as null)"
    elif isinstance(value, int) and not isinstance(value, bool):
        if -_LARGEST_FLOAT <= value <= _LARGEST_FLOAT:
            return None
        shown, why = "an integer beyond a 64-bit float", "which JSON readers cannot hold"
    else:
        return None
    return Unstorable("NON_FINITE_NUMBER", where,
                      f"is {shown}, {why}; send a finite number, or the value as a string")


def _scalar_problem(value: Any, trail: Trail, *, key: bool = False) -> Unstorable | None:
    """A NUL, a lone surrogate or a non-finite number in one string, key or number."""
    kind = type(value)
    if kind is str:
        if not _unsafe(value):
            return None
        return _string_problem(value, _render(trail) + " (the key)" * key)
    if kind is float:
        return None if math.isfinite(value) else _number_problem(value, _render(trail))
    if kind is int and not -_LARGEST_FLOAT <= value <= _LARGEST_FLOAT:
        return _number_problem(value, _render(trail) + " (the key)" * key)
    return None


def _render(trail: Trail) -> str:
    parts: list[str] = []
    while trail:
        trail, key = trail
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
            parts.append(f".{key}")
        else:  # quoted and ASCII-escaped, so a path never carries a NUL or an escape sequence
            parts.append(f"[{json.dumps(str(key)[:40])}]")
    path = "".join(reversed(parts)).removeprefix(".")
    return path if len(path) <= 160 else f"{path[:20]}…{path[-120:]}"


def find_unstorable(data: dict[Any, Any], *, strings_checked: bool = False,
                    kinds: set[type] | None = None) -> Unstorable | None:
    """The first value of an event the log cannot store as it is, or None.

    Strings and keys anywhere (NUL, lone surrogates), numbers (non-finite), and
    `meta`'s depth and size. Containers outside `meta` are left to the model,
    which refuses them by type. `strings_checked` says the caller knows that no
    string or key holds a NUL or a lone surrogate (see `escapes_nothing_unsafe`);
    `kinds`, the types of `data`'s values, when the caller has them.
    """
    # On the ingest path: one search over all top-level strings and keys, because a
    # bad character is rare; the field that holds it is looked for only then.
    if not strings_checked and _unsafe(
            "".join([item for pair in data.items() for item in pair if type(item) is str])):
        for key, value in data.items():
            problem = (_scalar_problem(key, ((), key), key=True)
                       or (_scalar_problem(value, ((), key)) if type(value) is str else None))
            if problem is not None:
                return problem
    if kinds is None:
        kinds = set(map(type, data.values()))
    if float in kinds or int in kinds:  # most events hold no number at the top
        for key, value in data.items():
            if type(value) is float or type(value) is int:
                problem = _scalar_problem(value, ((), key))
                if problem is not None:
                    return problem
    meta = data.get("meta")
    return _meta_problem(meta, strings_checked) if type(meta) is dict else None


def escapes_nothing_unsafe(line: str, *, from_utf8: bool) -> bool:
    """Whether no string or key that `json.loads(line)` gives can hold a NUL or a lone
    surrogate, by a look at the line alone (one scan in C).

    json refuses raw control characters inside strings, and UTF-8 decoding (or ASCII)
    leaves no surrogate: each such character would come from a `\\u` escape.
    """
    return "\\u" not in line and (from_utf8 or line.isascii())


def _meta_problem(meta: dict[Any, Any], strings_checked: bool = False) -> Unstorable | None:
    # Iterative, so no input depth can exhaust the stack. Bounds on the serialized
    # size are kept on the way: below the limit at most, the exact size is never
    # computed; over it at least, the walk stops there.
    stack: list[tuple[Any, int, Trail]] = [(meta, 1, ((), "meta"))]
    least = most = 0
    while stack:
        value, depth, trail = stack.pop()
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
            if depth > MAX_META_DEPTH:
                return Unstorable("META_TOO_DEEP", _render(trail),
                                  f"nests deeper than {MAX_META_DEPTH} levels (meta is level "
                                  "1); flatten it or send the structure as a string")
            least, most = least + 2, most + 2
            if kind is dict:
                for key, item in value.items():
                    inner = (trail, key)
                    if not strings_checked or type(key) is not str:
                        problem = _scalar_problem(key, inner, key=True)
                        if problem is not None:
                            return problem
                    length = len(key) if type(key) is str else 24
                    least, most = least + length + 4, most + 6 * length + 4
                    stack.append((item, depth + 1, inner))
            else:
                least, most = least + len(value), most + len(value)
                stack.extend((item, depth + 1, (trail, index))
                             for index, item in enumerate(value))
        else:
            if not strings_checked or kind is not str:
                problem = _scalar_problem(value, trail)
                if problem is not None:
                    return problem
            if kind is str:
                least, most = least + len(value) + 2, most + 6 * len(value) + 2
            else:
                least, most = least + 1, most + 320  # a number within a float's range
        if least > MAX_META_BYTES:
            break
    if most > MAX_META_BYTES and (least > MAX_META_BYTES or len(json.dumps(
            meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) > MAX_META_BYTES):
        return Unstorable("META_TOO_LARGE", "meta",
                          f"is over {MAX_META_BYTES} bytes as compact JSON; keep large "
                          "content (files, transcripts) elsewhere and put a reference in meta")
    return None
