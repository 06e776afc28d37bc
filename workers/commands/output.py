"""Shared CLI output helpers: JSON, tables and progress on a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Off a terminal (pipes, CI logs) rich assumes 80 columns; keep rows whole instead.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def is_terminal() -> bool:
    return sys.stderr.isatty()
