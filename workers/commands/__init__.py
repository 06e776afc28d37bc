"""CLI verb groups; each module exposes `register(subparsers)` and sets `handler`."""

from __future__ import annotations

from workers.commands import catch_up, demo, generate, log, policy, projection, sessions

COMMAND_MODULES = (log, generate, policy, projection, catch_up, sessions, demo)
