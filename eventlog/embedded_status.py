"""What the embedded PostgreSQL is doing: where its data lives, whether it runs, its PID
and port. Read from the server's own `postmaster.pid`, so asking starts nothing.

The embedded server outlives the command that started it (later commands reuse it);
`announce` is how a command says so once when it starts one (the CLI prints it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Called with one line when a command starts the embedded server (set by the CLI).
announcers: list[Callable[[str], None]] = []


@dataclass(frozen=True, slots=True)
class EmbeddedStatus:
    home: Path
    pgdata: Path
    exists: bool  # a data directory was made (a server ran here once)
    running: bool
    pid: int | None
    port: int | None
    socket_dir: str | None

    def as_dict(self) -> dict[str, object]:
        return {"home": str(self.home), "pgdata": str(self.pgdata), "exists": self.exists,
                "running": self.running, "pid": self.pid, "port": self.port,
                "socket_dir": self.socket_dir}


def embedded_status(home: Path) -> EmbeddedStatus:
    pgdata = home / "pgdata"
    pid = port = None
    socket_dir = None
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        lines = []
    if len(lines) >= 5:
        pid = int(lines[0]) if lines[0].strip().isdigit() else None
        port = int(lines[3]) if lines[3].strip().isdigit() else None
        socket_dir = lines[4].strip() or None
    running = pid is not None and _is_postgres(pid)
    return EmbeddedStatus(home, pgdata, (pgdata / "PG_VERSION").exists(), running,
                          pid if running else None, port if running else None,
                          socket_dir if running else None)


def _is_postgres(pid: int) -> bool:
    """The process exists and is a PostgreSQL server (a stale pid file names another)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user (the server user when run as root)
    try:
        return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: trust the pid file


def announce(line: str) -> None:
    for call in announcers:
        call(line)
