"""The raw references convlog is measured beside: bare COPY, one window statement, eventsourcing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from eventlog.appending import COPY_COLUMNS, COPY_TYPES

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
