"""Reading JSON lines and JSON files without ever raising on bad input: problems are reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workers.gateways.records import StoreRead


def json_lines(path: Path, read: StoreRead) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each good line; each bad line is one reported problem."""
    if not read.may_read(path):
        return
    try:
        raw = path.read_bytes()
    except OSError as error:
        read.problem(path, f"unreadable ({error.strerror or error}); skipped")
        return
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            read.problem(path, f"line {number}: not UTF-8; the line was skipped")
            continue
        except (ValueError, RecursionError):
            # Truncated only when nothing, not even a newline, follows the line.
            what = "truncated (the file ends mid-line)" if number == len(lines) else "not JSON"
            read.problem(path, f"line {number}: {what}; the line was skipped")
            continue
        if isinstance(value, dict):
            yield number, value
        else:
            read.problem(path, f"line {number}: not a JSON object; the line was skipped")


def json_file(path: Path, read: StoreRead) -> Any:
    """A JSON document, or None (reported) when the file is missing, unreadable or corrupt."""
    if path.exists() and not read.may_read(path):
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        read.problem(path, f"unreadable ({error}); skipped")
    except (ValueError, RecursionError) as error:
        read.problem(path, f"corrupt JSON ({str(error) or 'nested too deeply'}); skipped")
    return None
