"""CLI verb groups; each module exposes `register(subparsers)` and sets `handler`."""

from __future__ import annotations

from workers.commands import (
    catch_up,
    demo,
    erase,
    generate,
    import_,
    log,
    policy,
    projection,
    serve,
    sessions,
    token,
)

COMMAND_MODULES = (log, generate, policy, projection, catch_up, sessions, erase, demo,
                   serve, token, import_)
