"""Statements the fold sends through psycopg itself, every parameter in binary."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from sqlalchemy import Connection


def native(sql: str) -> str:
    """A statement in psycopg's own placeholders, every parameter sent in binary.

    Binary arrays of uuids, integers and texts are dumped without quoting each
    element, which in text format costs more than the statement itself.
    """
    return re.sub(r":(\w+)", r"%(\1)b", sql.replace("%", "%%"))


def run(conn: Connection, sql: str, params: dict[str, Any], *,
        sized: bool = False) -> psycopg.Cursor[Any]:
    """Execute `sql`. psycopg prepares a statement run often enough, and the server then
    reuses one generic plan, which takes every array parameter for ten elements. `sized`:
    plan this execution for the arrays it is given (a build's batches of thousands, for
    which the generic plan's nested loops cost the square of the batch's sessions)."""
    cursor: psycopg.Cursor[Any] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, params, prepare=False if sized else None)
    return cursor


def columns(rows: list[Any], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
