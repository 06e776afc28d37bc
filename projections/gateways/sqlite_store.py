"""A gateway's own SQLite store (Hermes's state.db, TinyClaw's tinyclaw.db), read without
a write: every query an importer makes of such a file is here, below the importers
(workers/gateways), as convlog's own queries are below the edges.

The file is opened read-only; with no `-wal` beside it nobody has it open and it is
whole, so it is read immutable (not even a `-shm` or `-wal` appears beside it); with
one, its last writes are read through it. A path's `?`, `#` or `%` stays the path's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

T = TypeVar("T")


def read_sqlite(db: Path, reader: Callable[[sqlite3.Connection], T], nothing: T,
                problem: Callable[[Path, str], None]) -> T:
    """`reader` run on the store opened read-only; `nothing`, with the problem told to
    `problem`, when the file is not a readable SQLite database."""
    uri = f"file:{quote(str(db))}?mode=ro"
    live = Path(f"{db}-wal").exists()
    try:
        return _with(uri + ("" if live else "&immutable=1"), reader)
    except sqlite3.DatabaseError as first:
        try:  # a WAL database whose -shm cannot be made: read the file as it is
            return _with(uri + "&immutable=1", reader)
        except sqlite3.DatabaseError:
            problem(db, f"not a readable SQLite database ({first}); skipped")
            return nothing


def _with(uri: str, reader: Callable[[sqlite3.Connection], T]) -> T:
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return reader(conn)
    finally:
        conn.close()


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The table's column names; empty when there is no such table."""
    return {name.decode() if isinstance(name, bytes) else name
            for _, name, *_ in conn.execute(f"PRAGMA table_info({table})")}


def table_rows(conn: sqlite3.Connection, table: str, order: str) -> list[dict[str, Any]]:
    """Every row of the table as a dict, in `order` (columns the caller checked exist)."""
    return [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]


def first_row(conn: sqlite3.Connection, table: str) -> sqlite3.Row | None:
    """The table's first row; None when it is empty or absent."""
    try:
        row: sqlite3.Row | None = conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row
