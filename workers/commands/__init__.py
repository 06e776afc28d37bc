"""CLI verb groups; each module exposes `register(subparsers)` and sets `handler`."""

from __future__ import annotations

from workers.commands import (
    catch_up,
    counts,
    demo,
    erase,
    export,
    generate,
    import_,
    log,
    policy,
    projection,
    report,
    retention,
    search,
    serve,
    sessions,
    simulate,
    token,
)

COMMAND_MODULES = (log, generate, policy, projection, catch_up, sessions, erase, demo,
                   serve, token, import_, counts, search, retention, simulate, report,
                   export)
