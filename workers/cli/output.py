"""Shared CLI output helpers: JSON, tables, chat content as inert text, argument types."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

# Off a terminal (pipes, CI logs) rich assumes 80 columns; keep rows whole instead.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

# What a terminal would obey rather than show: C0 controls (ESC starts colour,
# cursor and title sequences; CR overwrites a line), DEL, C1 controls (0x9b is a
# one-byte CSI), and the bidirectional overrides and isolates that make text read
# differently from what it is. Tab stays; newline stays only where asked.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value: object, *, newlines: bool = False, style: str = "") -> Text:
    """Chat content (or anything that came from the log) as inert text for the terminal.

    A `Text` is never read as Rich markup (so `see [/] here` prints as written),
    and control characters appear as escapes such as `\\x1b` instead of acting on
    the terminal. `str()` of the result is the same, for plain `print`.
    """
    text = "" if value is None else str(value)
    if newlines:
        escaped = "\n".join(_CONTROL.sub(_visible, part) for part in text.split("\n"))
    else:
        escaped = _CONTROL.sub(_visible, text)
    return Text(escaped, style=style)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def is_terminal() -> bool:
    return sys.stderr.isatty()


def _whole_number(value: str, least: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < least:
        raise argparse.ArgumentTypeError(f"{number} is below {least}; give {least} or more")
    return number


def non_negative_int(value: str) -> int:
    """An argparse type: 0 or more (limits, counts, budgets, positions)."""
    return _whole_number(value, 0)


def positive_int(value: str) -> int:
    """An argparse type: 1 or more (batch sizes, worker counts)."""
    return _whole_number(value, 1)
