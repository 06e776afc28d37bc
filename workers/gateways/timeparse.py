"""Times as the stores write them: ISO with or without a zone, epoch seconds or milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from eventlog.edge import EARLIEST_TIME, LATEST_TIME
from workers.gateways.records import StoreRead

# Epoch numbers above this are milliseconds (year 2286 in seconds).
MILLIS_FROM = 10_000_000_000


def parse_time(value: Any, zone: tzinfo, read: StoreRead,
               where: str | None = None) -> datetime | None:
    """A time in UTC; a naive ISO time is read in `zone` and counted in the report.

    With `where`, an epoch number that is no time the log accepts (1970 to 2200) is
    reported there as a problem; the entry is then without a time (it takes the time of
    the entry before it).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > MILLIS_FROM else value
        try:
            when: datetime | None = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            when = None
        if where is not None and (when is None or not EARLIEST_TIME <= when < LATEST_TIME):
            read.problem(where, f"timestamp {value!r} is no time between 1970 and 2200; the "
                         "message took the time of the one before it")
            return None
        return when
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            read.naive_times += 1
            parsed = parsed.replace(tzinfo=zone)
        return parsed.astimezone(UTC)
    return None
