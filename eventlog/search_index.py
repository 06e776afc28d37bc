"""The full-text index over the log's messages: a derived table behind a watermark.

Why derived and off the append path: appends are serialized under one lock, and
`to_tsvector` over a batch's texts (plus the GIN insert) would lengthen every
append. Instead `search_documents` is filled by `convlog_search_index`, one SQL
function that indexes the message events between the watermark and a position.
The workers call it as the log grows (bounded lag), and every search calls it up
to the horizon first, so a search never misses an event appended before it: the
lag only decides who pays for the last few events. Erasure removes an event's row
in the erasing transaction (a trigger on `event_content`, revision 0009).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.errors import DatabaseError, EventLogError
from eventlog.schema import log_horizon

log = logging.getLogger("convlog.search")
# Events whose text is indexed: what people and agents said (tool output is not).
INDEXED_TYPES = ("message.received", "message.sent", "message.edited")
DEFAULT_CONFIG = "simple"
# Positions per index transaction: short enough that an erasure waits little for it.
INDEX_BATCH = 50_000


class SearchError(EventLogError):
    """A search that cannot be run as asked."""

    code = "SEARCH"


@dataclass(frozen=True, slots=True)
class IndexState:
    """The text search configuration the index is built with, and how far it reaches."""

    config: str
    indexed_upto: int


def state(conn: Connection) -> IndexState:
    row = conn.execute(text("SELECT config, indexed_upto FROM search_state")).one()
    return IndexState(str(row.config), int(row.indexed_upto))


def index_batch(engine: Engine, upto: int | None = None, max_events: int = INDEX_BATCH) -> int:
    """Index at most `max_events` positions after the watermark, in one transaction."""
    try:
        with engine.begin() as conn:
            return int(conn.execute(text("SELECT convlog_search_index(:upto, :n)"),
                                    {"upto": upto, "n": max_events}).scalar_one())
    except DBAPIError as error:
        raise DatabaseError(f"indexing for search failed: {error.orig}; nothing of this batch "
                            "was written, so it can be retried") from error


def index_pending(engine: Engine, upto: int | None = None,
                  batch: int = INDEX_BATCH) -> int:
    """Bring the index up to `upto` (default: the log's horizon); returns the watermark."""
    with engine.connect() as conn:
        target = upto if upto is not None else log_horizon(conn)
        done = state(conn).indexed_upto
    while done < target:
        moved = index_batch(engine, target, batch)
        if moved <= done:
            break
        done = moved
    return done


def lag(conn: Connection) -> int:
    """How many positions of the log the index has not reached yet."""
    return int(conn.execute(text(
        "SELECT coalesce(max(position), 0) - (SELECT indexed_upto FROM search_state) "
        "FROM events")).scalar_one())


def keep_current(engine: Engine) -> None:
    """The workers' share: one batch towards the horizon per wake-up; failures are logged."""
    try:
        with engine.connect() as conn:
            behind = conn.execute(text(
                "SELECT coalesce(max(position), 0) > (SELECT indexed_upto FROM search_state) "
                "FROM events")).scalar_one()
        if behind:
            index_batch(engine)
    except (DatabaseError, DBAPIError) as error:
        log.warning("search index not brought up to date: %s", error)


def ensure_config(conn: Connection, wanted: str) -> IndexState:
    """The index's state, refusing a search under a configuration it was not built with."""
    current = state(conn)
    if current.config != wanted:
        raise SearchError(
            f"the search index is built with text search configuration {current.config!r} "
            f"but CONVLOG_SEARCH_CONFIG asks for {wanted!r}; rebuild it with "
            "`convlog search --reindex` (as convlog_operator), or unset the setting",
            code="SEARCH_CONFIG_CHANGED")
    return current


def configure(engine: Engine, config: str) -> bool:
    """Rebuild the index under `config` (True), or do nothing when it already uses it."""
    try:
        with engine.begin() as conn:
            return bool(conn.execute(text("SELECT convlog_search_configure(:c)"),
                                     {"c": config}).scalar_one())
    except DBAPIError as error:
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate == "42704":  # undefined_object: no such text search configuration
            raise SearchError(f"the server has no text search configuration {config!r}; "
                              "see `\\dF` in psql (simple, english, german, ...)",
                              code="UNKNOWN_SEARCH_CONFIG") from None
        if sqlstate == "42501":
            raise SearchError("this database role may not rebuild the search index; connect "
                              "as a member of convlog_operator", code="REINDEX_NOT_PERMITTED"
                              ) from None
        raise DatabaseError(f"rebuilding the search index failed: {error.orig}") from error
