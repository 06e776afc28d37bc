"""One row per message as JSON lines (CSV and Parquet go through COPY: see `copying`).

Rows arrive in chunks as `rows.stream` yields them; each chunk is written and
dropped, so memory stays flat whatever the log's size.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import IO, Any

from projections.transcript import COLUMNS, Row

Progress = Callable[[int], None]


def _value(value: Any) -> Any:
    """A value as JSON holds it: UUIDs as strings, times in ISO 8601."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_jsonl(chunks: Iterable[list[Row]], handle: IO[str], progress: Progress) -> int:
    """Rows as JSON objects, one per line, keys as the column names; the number of rows."""
    total = 0
    for chunk in chunks:
        handle.writelines(
            json.dumps(dict(zip(COLUMNS, map(_value, row), strict=True)),
                       ensure_ascii=False) + "\n" for row in chunk)
        total += len(chunk)
        progress(len(chunk))
    return total
