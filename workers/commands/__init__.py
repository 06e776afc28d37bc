"""CLI verb groups; each module exposes `register(subparsers)` and sets `handler`."""

from __future__ import annotations

import importlib
from types import ModuleType

_NAMES = ("log", "generate", "policy", "projection", "sessions")


def _load() -> list[ModuleType]:
    modules = []
    for name in _NAMES:
        try:
            modules.append(importlib.import_module(f"workers.commands.{name}"))
        except ModuleNotFoundError as error:
            if error.name != f"workers.commands.{name}":
                raise
    return modules


COMMAND_MODULES = _load()
