"""CLI verb groups; each module exposes `register(subparsers)` and sets `handler`."""

from __future__ import annotations

from workers.commands import demo, generate, log, policy, projection, sessions

COMMAND_MODULES = (log, generate, policy, projection, sessions, demo)
