"""Who may search, index, rebuild and retain: least privilege for the search index and
retention, as for the rest of the log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from eventlog.retention import run
from eventlog.retention_rules import RetentionError, parse_rules
from eventlog.search_index import index_pending
from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from tests.fixtures.database import Connect, refused

RULES = parse_rules({"rules": [{"name": "all-old", "match": {"platform": "discord"},
                                "max_age_days": 1}]})


def refused_privilege(engine: Engine, statement: str) -> None:
    error = refused(engine, statement)
    assert getattr(error.orig, "sqlstate", None) == "42501", error


def allowed(engine: Engine, statement: str) -> object:
    with engine.begin() as conn:
        return conn.execute(text(statement)).scalar()


def test_workers_read_the_index_but_write_it_only_through_the_index_function(
        store: EventStore, as_role: Connect) -> None:
    store.append([make_event(text="kept words")])
    worker = as_role("convlog_worker")
    assert allowed(worker, "SELECT convlog_search_index(NULL)") == 1
    assert allowed(worker, "SELECT count(*) FROM search_documents") == 1
    for statement in ("INSERT INTO search_documents SELECT * FROM search_documents",
                      "DELETE FROM search_documents", "UPDATE search_state SET indexed_upto = 0",
                      "SELECT convlog_search_configure('english')",
                      "SELECT * FROM convlog_retain('[]', now(), 'cl100k_base', 's', 'r')"):
        refused_privilege(worker, statement)


def test_readers_search_through_the_view_and_nothing_else(
        store: EventStore, engine: Engine, as_role: Connect) -> None:
    store.append([make_event(text="analysts find this")])
    reader = as_role("convlog_reader")
    assert allowed(reader, "SELECT convlog_search_index(NULL)") == 1
    assert allowed(reader, "SELECT text FROM message_search WHERE document @@ "
                           "to_tsquery('simple', 'analysts')") == "analysts find this"
    for statement in ("SELECT * FROM search_documents", "SELECT * FROM event_content",
                      "SELECT * FROM convlog_retention_targets('[]', now(), 'cl100k_base')"):
        refused_privilege(reader, statement)
    # writers (gateways) see nothing of the index
    for statement in ("SELECT * FROM search_documents", "SELECT * FROM message_search"):
        refused_privilege(as_role("convlog_writer"), statement)


def test_only_an_operator_runs_retention(store: EventStore, as_role: Connect) -> None:
    store.append([make_event(occurred_at="2026-01-01T00:00:00Z", text="old words")])
    index_pending(as_role("convlog_worker"))
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(RetentionError) as caught:
        run(as_role("convlog_worker"), RULES, as_of=now, encoding="cl100k_base")
    assert caught.value.code == "ERASE_NOT_PERMITTED"
    result = run(as_role("convlog_operator"), RULES, as_of=now, encoding="cl100k_base",
                 yes=True)
    assert result.contents_erased == 1
    assert allowed(as_role("convlog_operator"), "SELECT count(*) FROM search_documents") == 0
