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


def run(conn: Connection, sql: str, params: dict[str, Any]) -> psycopg.Cursor[Any]:
    cursor: psycopg.Cursor[Any] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, params)
    return cursor


def columns(rows: list[Any], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
