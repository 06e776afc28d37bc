"""The rows every export writes: the `session_transcript` view, streamed in session order.

Only the analysts' view is read, so an export runs as `convlog_reader` as well
as as a worker, and erased content (NULL in the view) can never reach a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, text

from projections.errors import ProjectionError

COLUMNS: tuple[str, ...] = (
    "projection", "session_id", "key", "epoch", "agent", "seq", "position", "type", "kind",
    "platform", "account", "space", "chat", "chat_type", "topic", "sender", "sender_name",
    "message_id", "reply_to", "occurred_at", "recorded_at", "tokens", "state", "text",
    "tool_name", "tool_arguments",
)
# tool_arguments is JSON: always exported as its JSON text, whatever its type.
SELECT = ", ".join("tool_arguments::text AS tool_arguments" if c == "tool_arguments" else c
                   for c in COLUMNS)
FETCH = 10_000  # rows per round trip of the server-side cursor

Row = Sequence[Any]


def resolve_projection(conn: Connection, name: str | None) -> tuple[str, int]:
    """(name, member rows) of the projection asked for, `None` meaning the active one."""
    if name is None:
        row = conn.execute(text(
            "SELECT projection, coalesce(sum(message_count), 0) AS n FROM session_overview "
            "WHERE active GROUP BY projection")).first()
        if row is None:
            raise ProjectionError("no active projection has sessions; name one with "
                                  "--projection, or run `convlog catch-up` first",
                                  code="NOTHING_TO_EXPORT")
        return str(row.projection), int(row.n)
    row = conn.execute(text(
        "SELECT coalesce(sum(message_count), 0) AS n, count(*) AS sessions "
        "FROM session_overview WHERE projection = :name"), {"name": name}).one()
    if not row.sessions:
        raise ProjectionError(f"no sessions in a projection named {name!r}: check the name "
                              "with `convlog projection list` (and that it is built)",
                              code="NOTHING_TO_EXPORT")
    return name, int(row.n)


def stream(engine: Engine, projection: str) -> Iterator[list[Row]]:
    """The projection's members in chunks of FETCH rows, by session then position."""
    sql = text(f"SELECT {SELECT} FROM session_transcript "
               "WHERE projection = :name ORDER BY session_id, position")
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(
            sql, {"name": projection})
        for chunk in result.partitions():
            yield [tuple(row) for row in chunk]


def copy_statement(projection: str, *, header: bool) -> str:
    """The projection's rows as `COPY … TO STDOUT` in CSV, for exports at COPY's speed."""
    literal = "'" + projection.replace("'", "''") + "'"
    return (f"COPY (SELECT {SELECT} FROM session_transcript WHERE projection = {literal} "
            f"ORDER BY session_id, position) TO STDOUT (FORMAT csv"
            + (", HEADER" if header else "") + ")")
