"""Shared CLI output helpers: JSON, tables and progress on a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def is_terminal() -> bool:
    return sys.stderr.isatty()
