"""The analyst queries of docs/analysts.md, each run as `convlog_reader` and checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.ingest import ingest_lines
from eventlog.store import EventStore
from projections.policy import load_policy
from projections.registry import get
from tests.fixtures.projections import new_projection, project
from workers.tools.workload import generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Verbatim in docs/analysts.md.
LARGEST_SESSIONS = """
SELECT key, message_count, token_total, participant_count
  FROM session_overview
 WHERE active
 ORDER BY token_total DESC
 LIMIT 10
"""
TOKENS_PER_USER_PER_DAY = """
SELECT sender, date_trunc('day', occurred_at) AS day, count(*) AS messages,
       sum(tokens) AS tokens
  FROM session_transcript
 WHERE active AND kind = 'user'
 GROUP BY sender, day
 ORDER BY day, tokens DESC
"""
NEEDING_A_SUMMARY = """
SELECT key, message_count, token_total, summary_reason
  FROM session_overview
 WHERE active AND needs_summary
 ORDER BY token_total DESC
"""
ACROSS_CHANNELS = """
SELECT sender, count(DISTINCT (platform, chat)) AS chats,
       array_agg(DISTINCT platform || ':' || chat) AS where_
  FROM session_transcript
 WHERE active AND kind = 'user'
 GROUP BY sender
HAVING count(DISTINCT (platform, chat)) > 1
 ORDER BY chats DESC, sender
"""
OVER_BUDGET_TURNS = """
SELECT o.key, m.position, m.sender, m.occurred_at, m.running_tokens
  FROM session_messages m
  JOIN session_overview o USING (projection, session_id)
 WHERE m.projection = 'guild-wide' AND m.kind = 'user' AND m.running_tokens > 100000
 ORDER BY m.running_tokens DESC
"""
QUERIES = {"largest sessions": LARGEST_SESSIONS,
           "tokens per user per day": TOKENS_PER_USER_PER_DAY,
           "sessions needing a summary": NEEDING_A_SUMMARY,
           "who talks across channels": ACROSS_CHANNELS,
           "a policy's over-budget turns": OVER_BUDGET_TURNS}


@pytest.fixture
def reader(engine: Engine, store: EventStore, database_url: str) -> Iterator[Engine]:
    ingest_lines(store, (json.dumps(e).encode() for e in generate(4_000, seed=7)))
    project(engine, store, "default")
    new_projection(engine, "guild-wide", load_policy(EXAMPLES / "guild-wide.json"))
    project(engine, store, "guild-wide")
    as_reader = create_engine(database_url,
                              connect_args={"options": "-c role=convlog_reader"})
    yield as_reader
    as_reader.dispose()


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_every_documented_query_runs_as_the_reader_and_answers(
        reader: Engine, engine: Engine) -> None:
    with engine.connect() as conn:
        active, guild = get(conn).id, get(conn, "guild-wide").id
        largest = conn.execute(text(
            "SELECT key, token_total FROM sessions WHERE projection_id = :p "
            "ORDER BY token_total DESC LIMIT 10"), {"p": active}).all()
        user_tokens = conn.execute(text(
            "SELECT sum(tokens) FROM session_members WHERE projection_id = :p "
            "AND kind = 'user'"), {"p": active}).scalar_one()
        needing = conn.execute(text(
            "SELECT count(*) FROM sessions WHERE projection_id = :p AND needs_summary"),
            {"p": active}).scalar_one()
        movers = conn.execute(text(
            "SELECT count(*) FROM (SELECT m.sender FROM session_members m JOIN events e "
            "ON e.position = m.position WHERE m.projection_id = :p AND m.kind = 'user' "
            "GROUP BY m.sender HAVING count(DISTINCT (e.platform, e.chat)) > 1) x"),
            {"p": active}).scalar_one()
        over = conn.execute(text(
            "SELECT count(*) FROM session_members WHERE projection_id = :p AND kind = 'user' "
            "AND running_tokens > 100000"), {"p": guild}).scalar_one()

    found = {name: rows(reader, sql) for name, sql in QUERIES.items()}
    assert [r[2] for r in found["largest sessions"]] == [r.token_total for r in largest]
    assert sum(int(r[3]) for r in found["tokens per user per day"]) == user_tokens > 0
    assert len(found["sessions needing a summary"]) == needing > 0
    assert len(found["who talks across channels"]) == movers > 0
    assert len(found["a policy's over-budget turns"]) == over > 0


def test_the_reader_still_cannot_read_the_tables_behind_the_views(reader: Engine) -> None:
    for table in ("events", "event_content", "session_members", "sessions"):
        with pytest.raises(DBAPIError, match="permission denied"):
            rows(reader, f"SELECT 1 FROM {table} LIMIT 1")
