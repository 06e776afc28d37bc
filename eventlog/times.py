"""An event's time: RFC 3339 with an offset, inside the log's range, leap seconds kept in
order (the model's `occurred_at` reads through `parse_rfc3339`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from eventlog.edge import EARLIEST_TIME, LATEST_TIME, coded

# RFC 3339's leap second (time-second 60), which datetime cannot hold.
_LEAP_SECOND = re.compile(r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d):60(?:\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def parse_rfc3339(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = from_iso(value)
        except ValueError:
            raise ValueError(
                f"{value[:80]!r} is not an RFC 3339 time; write it like 2026-03-01T12:00:00Z"
            ) from None
    else:
        raise ValueError("must be an RFC 3339 time string such as 2026-03-01T12:00:00Z")
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset (RFC 3339), e.g. 2026-03-01T12:00:00Z or +02:00")
    try:
        utc: datetime | None = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past year 9999 in UTC
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        hint = ("0001-01-01T00:00:00Z is Go's zero time: the gateway sent a time it never set"
                if parsed.year == 1 else "check the gateway's clock and the time's offset")
        raise coded("TIME_OUT_OF_RANGE",
                    f"{parsed.isoformat()} is outside 1970-01-01T00:00:00Z to "
                    f"2200-01-01T00:00:00Z (exclusive) in UTC; {hint}")
    return utc


def from_iso(value: str) -> datetime:
    """datetime.fromisoformat, and a leap second (23:59:60Z) as the last instant of the
    second before it (23:59:59.999999Z): in order, and the same for every retry."""
    leap = _LEAP_SECOND.fullmatch(value)
    if leap is None:
        return datetime.fromisoformat(value)
    zone = "+00:00" if leap.group(2) in "Zz" else leap.group(2)
    return datetime.fromisoformat(f"{leap.group(1)}:59.999999{zone}")
