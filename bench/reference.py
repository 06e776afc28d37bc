"""The raw references convlog is measured beside: bare COPY, one window statement, eventsourcing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from eventlog.appending import CONTENT_COLUMNS, CONTENT_TYPES, COPY_COLUMNS, COPY_TYPES

BARE_TABLE = "bench_ref_events"
BARE_UNIQUE_TABLE = "bench_ref_events_uq"
WINDOW_TABLE = "bench_ref_sessions"
MEMBER_TYPES = ("message.received", "message.sent", "tool.used")
ES_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://convlog.invalid/bench/eventsourcing")
ES_TOPIC = "convlog.bench:GatewayEvent"

# The session key the SQL reference groups by: the default policy's grouping
# (agent, platform, account, chat, and the thread when there is one), minus
# resets and reply routing, which a single set-based statement cannot express.
WINDOW_STATEMENT = f"""
    CREATE TABLE {WINDOW_TABLE} AS
    SELECT position, key, tokens,
           sum(tokens) OVER (PARTITION BY key ORDER BY position) AS running_tokens,
           row_number() OVER (PARTITION BY key ORDER BY position) AS seq
      FROM (SELECT e.position, t.tokens,
                   concat_ws('|', e.agent, e.platform, e.account, e.chat, e.topic) AS key
              FROM events e
              JOIN token_counts t ON t.encoding = 'cl100k_base' AND t.position = e.position
             WHERE e.type IN ({", ".join(f"'{t}'" for t in MEMBER_TYPES)})) AS members
"""


def create_bare_table(conninfo: str, name: str, *, unique_event_id: bool = False) -> None:
    """A table shaped like `events` (columns, types, identity, defaults, primary key).

    No triggers (immutability, append lock) and, unless asked, no unique index
    on event_id: the bare cost of storing the same rows.
    """
    table = sql.Identifier(name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL(
            "CREATE TABLE {} (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY, "
            "PRIMARY KEY (position))").format(table))
        if unique_event_id:
            conn.execute(sql.SQL("ALTER TABLE {} ADD UNIQUE (event_id)").format(table))


class RawCopier:
    """COPY of precomputed rows into one bare table, one transaction per batch; times only that."""

    def __init__(self, conninfo: str, table: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        # Binary, as the append's own COPYs are.
        self.statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS)))
        self.rows = 0
        self.seconds = 0.0

    def copy(self, rows: Sequence[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        with self.conn.transaction(), self.conn.cursor() as cursor, \
                cursor.copy(self.statement) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        self.seconds += time.perf_counter() - started
        self.rows += len(rows)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def close(self) -> None:
        self.conn.close()


LOG_COPY_TABLES = ("events", "event_content")
LOG_COPY_PREFIX = "bench_log_"


class LogCopier:
    """Binary COPY of precomputed rows into copies of `events` and `event_content`.

    The copies are made `LIKE` the log's tables with their indexes (the primary keys,
    the unique event id and the look-up indexes), without the triggers: the bare cost
    of storing what the append stores. Positions are given, as the identity would draw
    them; each batch is one transaction, as an ingest batch is.
    """

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        for table in LOG_COPY_TABLES:
            name = sql.Identifier(LOG_COPY_PREFIX + table)
            self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
            self.conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                name, sql.Identifier(table)))
        self.events = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(LOG_COPY_PREFIX + "events"),
            sql.SQL(", ").join(map(sql.Identifier, ("position", *COPY_COLUMNS))))
        self.content = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(LOG_COPY_PREFIX + "event_content"),
            sql.SQL(", ").join(map(sql.Identifier, CONTENT_COLUMNS)))
        self.rows = 0
        self.seconds = 0.0

    def copy(self, events: Sequence[tuple[Any, ...]], contents: Sequence[tuple[Any, ...]]) -> None:
        """COPY `events` rows (position first) and their `contents` rows in one transaction."""
        started = time.perf_counter()
        with self.conn.transaction(), self.conn.cursor() as cursor:
            with cursor.copy(self.events) as copy:
                copy.set_types(("int8", *COPY_TYPES))
                for row in events:
                    copy.write_row(row)
            with cursor.copy(self.content) as copy:
                copy.set_types(CONTENT_TYPES)
                for row in contents:
                    copy.write_row(row)
        self.seconds += time.perf_counter() - started
        self.rows += len(events)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def close(self) -> None:
        for table in LOG_COPY_TABLES:
            self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                sql.Identifier(LOG_COPY_PREFIX + table)))
        self.conn.close()


@dataclass(frozen=True, slots=True)
class WindowResult:
    seconds: float
    events: int
    rows: int
    sessions: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def window_rebuild(conninfo: str) -> WindowResult:
    """Run the set-based session grouping with running token totals into a new table."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {WINDOW_TABLE}")
        events = _scalar(conn, "SELECT count(*) FROM events")
        started = time.perf_counter()
        conn.execute(WINDOW_STATEMENT)
        seconds = time.perf_counter() - started
        rows = _scalar(conn, f"SELECT count(*) FROM {WINDOW_TABLE}")
        sessions = _scalar(conn, f"SELECT count(DISTINCT key) FROM {WINDOW_TABLE}")
    return WindowResult(seconds, events, rows, sessions)


def _scalar(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


# -- the eventsourcing library ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EsResult:
    events: int
    batch: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def es_stored_events(events: Iterable[tuple[dict[str, Any], bytes]]) -> list[Any]:
    """One aggregate per conversation address; each gateway event's JSON is the state."""
    from eventsourcing.persistence import StoredEvent

    versions: dict[uuid.UUID, int] = {}
    stored = []
    for event, raw in events:
        address = "|".join(str(event.get(k) or "") for k in
                           ("agent", "platform", "account", "chat", "topic"))
        originator = uuid.uuid5(ES_NAMESPACE, address)
        version = versions.get(originator, 0) + 1
        versions[originator] = version
        stored.append(StoredEvent(originator_id=originator, originator_version=version,
                                  topic=ES_TOPIC, state=raw))
    return stored


def es_append(conninfo: str, table: str, stored: Sequence[Any], batch: int) -> EsResult:
    """Append through eventsourcing's PostgresApplicationRecorder, `batch` events per call."""
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    datastore = PostgresDatastore(
        dbname=str(params.get("dbname", "postgres")), host=str(params.get("host", "localhost")),
        port=str(params.get("port", 5432)), user=str(params.get("user", "postgres")),
        password=str(params.get("password", "")))
    try:
        recorder = PostgresApplicationRecorder(datastore, events_table_name=table)
        recorder.create_table()
        started = time.perf_counter()
        for start in range(0, len(stored), batch):
            recorder.insert_events(stored[start:start + batch])
        seconds = time.perf_counter() - started
    finally:
        datastore.close()
    return EsResult(len(stored), batch, seconds)


# -- the write limit --------------------------------------------------------------------

# The rows a per-user projection holds, computed by window statements and written into
# tables with the projection tables' own columns and indexes: members with running
# token totals, the message index, one row per session. No reset, reply routing or
# summary is decided; it is what writing the rows costs, the bound a rebuild works
# against.
WRITE_LIMIT_TABLES = ("session_members", "message_index", "sessions")
_WL = "bench_wl_"
_PER_USER_KEY = "concat_ws('|', e.agent, e.platform, e.account, e.chat, e.sender)"
WRITE_LIMIT_STATEMENTS = (f"""
    CREATE TEMPORARY TABLE bench_wl_keyed ON COMMIT DROP AS
    SELECT e.position, e.type, e.agent, e.platform, e.account, e.chat, e.sender,
           e.message_id, e.occurred_at, t.tokens, {_PER_USER_KEY} AS key,
           CAST(md5({_PER_USER_KEY}) AS uuid) AS sid
      FROM events e
      JOIN token_counts t ON t.encoding = 'cl100k_base' AND t.position = e.position
     WHERE e.type IN ({", ".join(f"'{t}'" for t in MEMBER_TYPES)})
""", f"""
    INSERT INTO {_WL}session_members (projection_id, session_id, position, kind, message_id,
                                      sender, seq, tokens, running_tokens)
    SELECT 0, sid, position,
           CASE type WHEN 'message.received' THEN 'user' WHEN 'message.sent' THEN 'assistant'
                     ELSE 'tool' END,
           message_id, sender, row_number() OVER w, tokens, sum(tokens) OVER w
      FROM bench_wl_keyed WINDOW w AS (PARTITION BY sid ORDER BY position)
""", f"""
    INSERT INTO {_WL}message_index (projection_id, agent, platform, account, chat, message_id,
                                    session_id, position)
    SELECT DISTINCT ON (agent, platform, account, chat, message_id)
           0, agent, platform, account, chat, message_id, sid, position
      FROM bench_wl_keyed WHERE message_id IS NOT NULL AND chat IS NOT NULL
     ORDER BY agent, platform, account, chat, message_id, position
""", f"""
    INSERT INTO {_WL}sessions (projection_id, session_id, key, epoch, started_by, agent,
                               platform, first_at, last_at, first_position, last_position,
                               message_count, token_total, running_total, participants, chats)
    SELECT 0, sid, min(key), 0, 'first', min(agent), min(platform), min(occurred_at),
           max(occurred_at), min(position), max(position), count(*), sum(tokens),
           sum(tokens),
           coalesce(array_agg(DISTINCT sender) FILTER (WHERE sender IS NOT NULL), '{{}}'),
           coalesce(array_agg(DISTINCT chat) FILTER (WHERE chat IS NOT NULL), '{{}}')
      FROM bench_wl_keyed GROUP BY sid
""")


@dataclass(frozen=True, slots=True)
class WriteLimitResult:
    seconds: float
    events: int
    members: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def write_limit(conninfo: str) -> WriteLimitResult:
    """The per-user projection's rows by window statements into indexed copies of its tables.

    The copies are plain tables made `LIKE` the partitioned ones, indexes included, so
    every row written maintains the indexes a projection's partition has.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in WRITE_LIMIT_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {_WL}{table}")
            conn.execute(f"CREATE TABLE {_WL}{table} (LIKE {table} INCLUDING ALL)")
        events = _scalar(conn, "SELECT count(*) FROM events")
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.transaction():
            for statement in WRITE_LIMIT_STATEMENTS:
                conn.execute(statement)
        seconds = time.perf_counter() - started
        members = _scalar(conn, f"SELECT count(*) FROM {_WL}session_members")
        for table in WRITE_LIMIT_TABLES:
            conn.execute(f"DROP TABLE {_WL}{table}")
    return WriteLimitResult(seconds, events, members)
