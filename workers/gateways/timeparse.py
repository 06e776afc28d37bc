"""Times as the stores write them: ISO with or without a zone, epoch seconds or milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from workers.gateways.records import StoreRead

# Epoch numbers above this are milliseconds (year 2286 in seconds).
_MILLIS_FROM = 10_000_000_000


def parse_time(value: Any, zone: tzinfo, read: StoreRead) -> datetime | None:
    """A time in UTC; a naive ISO time is read in `zone` and counted in the report."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > _MILLIS_FROM else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
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
