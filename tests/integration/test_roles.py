"""Least privilege: a NOLOGIN owner, and writer, worker, reader and operator roles that can
do their job and nothing that rewrites history or reads erased content."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, text

from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.context import ContextAssembler
from projections.registry import get
from tests.fixtures.builders import make_event
from tests.fixtures.database import Connect, refused
from tests.fixtures.projections import new_projection, project
from workers.cli.main import main

SECRET = "okapi-vermilion-5521"


WRITER_REFUSED = [
    "UPDATE events SET tokens = 0",
    "DELETE FROM events",
    "TRUNCATE events",
    "UPDATE event_content SET text = 'rewritten'",
    "DELETE FROM event_content",
    "ALTER TABLE events DISABLE TRIGGER events_immutable_rows",
    "ALTER TABLE events DISABLE TRIGGER ALL",
    "DROP TRIGGER events_immutable_rows ON events",
    "DROP TABLE events",
    "ALTER TABLE events OWNER TO convlog_writer",
    "SELECT * FROM sessions",
    "SELECT * FROM session_members",
    "SELECT * FROM session_messages",
    "SELECT * FROM session_overview",
    "SELECT * FROM erasures",
    "SELECT * FROM convlog_erase('chat', 'discord:1', "
    "'[{\"platform\": \"discord\", \"chat\": \"1\"}]', 'because', false)",
    "CREATE TABLE shadow (id int)",
]


def test_the_owner_cannot_log_in_and_owns_every_object(engine: Engine) -> None:
    # Given a migrated database with a projection created after the migrations
    new_projection(engine, "later")
    with engine.connect() as conn:
        # When the catalogue is read
        login = conn.execute(text(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'convlog_owner'")).scalar_one()
        foreign = conn.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'S') "
            "AND pg_get_userbyid(c.relowner) <> 'convlog_owner' "
            "UNION ALL SELECT p.proname FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() "
            "AND pg_get_userbyid(p.proowner) <> 'convlog_owner'")).scalars().all()
        roles = conn.execute(text(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'convlog\\_%' AND rolcanlogin"
        )).scalars().all()
    # Then the owner is NOLOGIN, owns every table, view, partition and function,
    # and none of the roles can log in until a deployment says so
    assert login is False
    assert foreign == []
    assert roles == []


@pytest.mark.parametrize("statement", WRITER_REFUSED)
def test_a_writer_cannot_rewrite_history_or_read_projections(
        as_role: Connect, store: EventStore, statement: str) -> None:
    # Given a log with one event
    store.append([make_event(text=SECRET)])
    # When a gateway's role tries to change, drop or read beyond the log
    reason = str(refused(as_role("convlog_writer"), statement).orig)
    # Then the database refuses it for want of privilege
    assert "permission denied" in reason or "must be owner" in reason


def test_a_writer_appends_redacts_and_reads_the_log(
        as_role: Connect, token_counter: TokenCounter) -> None:
    # Given a gateway connected as convlog_writer
    writer = EventStore(as_role("convlog_writer"), token_counter)
    # When it appends messages, a retry, and a redaction of one of them
    first = writer.append([make_event(text=SECRET, message_id="w1"),
                           make_event(text="kept", message_id="w2")])
    retry = writer.append([make_event(text="kept", message_id="w2")])
    writer.append([make_event(type="content.redacted", message_id="w1", text=None)])
    # Then all of it lands, and reading back shows the redacted text erased
    assert (first.appended, retry.appended) == (2, 0)
    shown = json.dumps([e.payload for e in writer.tail(10)])
    assert SECRET not in shown and "kept" in shown


def test_appends_do_not_rest_on_public_execute(as_role: Connect, engine: Engine,
                                             token_counter: TokenCounter) -> None:
    # Given a database that revokes EXECUTE from PUBLIC, and a role that may insert
    # events but was never granted the one-call append
    with engine.begin() as conn:
        conn.execute(text("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC"))
        conn.execute(text("CREATE ROLE convlog_test_inserter"))
        conn.execute(text("GRANT convlog_writer TO convlog_test_inserter"))
        conn.execute(text("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public "
                          "FROM convlog_writer"))
        conn.execute(text("GRANT EXECUTE ON FUNCTION convlog_serialize_append() "
                          "TO convlog_writer"))
    try:
        # When it appends a few events, twice (a retry)
        inserter = EventStore(as_role("convlog_test_inserter"), token_counter)
        retried = make_event(message_id="p1")
        first = inserter.append([retried, make_event(message_id="p2")])
        again = inserter.append([retried])
        # Then they land through the full path, and the retry is a duplicate
        assert (first.appended, again.duplicates) == (2, 1)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP OWNED BY convlog_test_inserter"))
            conn.execute(text("DROP ROLE convlog_test_inserter"))


def test_a_worker_builds_projections_and_contexts_but_cannot_change_the_log(
        as_role: Connect, store: EventStore, token_counter: TokenCounter) -> None:
    # Given a log, and a worker process connected as convlog_worker
    store.append([make_event(text=SECRET, message_id="k1"), make_event(message_id="k2")])
    worker_engine = as_role("convlog_worker")
    worker = EventStore(worker_engine, token_counter)
    # When it creates a projection, catches up, serves a context and drops another
    new_projection(worker_engine, "by-worker")
    project(worker_engine, worker, "by-worker")
    project(worker_engine, worker, "default")
    new_projection(worker_engine, "scratch")
    from projections.registry import drop

    with worker_engine.begin() as conn:
        drop(conn, get(conn, "scratch"))
    with worker_engine.connect() as conn:
        info = get(conn, "by-worker")
        session_id = conn.execute(text("SELECT session_id FROM sessions WHERE projection_id "
                                       "= :p"), {"p": info.id}).scalar_one()
        context = ContextAssembler(token_counter).assemble(conn, info.id, session_id,
                                                           budget=10_000)
    # Then all of that works
    assert SECRET in json.dumps(context.as_dict())
    # and history and erasure stay out of its reach
    for statement in ("UPDATE events SET tokens = 0", "DELETE FROM event_content",
                      "INSERT INTO erasures (erased_by, kind, selector, targets, reason, "
                      "events_matched, contents_erased, summaries_erased, head) VALUES "
                      "('x', 'chat', 'x', '[]', 'x', 0, 0, 0, 0)",
                      "ALTER TABLE events DISABLE TRIGGER ALL", "DROP TABLE sessions",
                      "SELECT * FROM convlog_erase('chat', 'discord:1', "
                      "'[{\"platform\": \"discord\", \"chat\": \"1\"}]', 'because', false)"):
        reason = str(refused(worker_engine, statement).orig)
        assert "permission denied" in reason or "must be owner" in reason


def test_a_reader_sees_the_documented_views_only_and_never_erased_content(
        as_role: Connect, store: EventStore, engine: Engine, cli_env: str) -> None:
    # Given a projected log in which one message was erased
    store.append([make_event(text=SECRET, sender="111", message_id="e1"),
                  make_event(text="kept", sender="222", message_id="e2")])
    project(engine, store, "default")
    assert main(["erase", "--sender", "discord:111", "--reason", "ticket 9", "--yes"]) == 0
    reader = as_role("convlog_reader")
    # When an analyst queries the views
    with reader.connect() as conn:
        rows = conn.execute(text("SELECT sender, state, text FROM session_messages "
                                 "ORDER BY position")).all()
        sessions = conn.execute(text("SELECT count(*) FROM session_overview")).scalar_one()
    # Then the views answer, with the erased message marked and empty
    assert [tuple(row) for row in rows] == [("111", "erased", None), ("222", "original", "kept")]
    assert sessions == 1
    # and the log, its content, the session tables and every write are refused
    for statement in ("SELECT * FROM events", "SELECT * FROM event_content",
                      "SELECT * FROM erasures", "SELECT * FROM session_members",
                      "INSERT INTO events (event_id) VALUES ('x')",
                      "UPDATE projections SET checkpoint = 0", "DELETE FROM sessions"):
        assert "permission denied" in str(refused(reader, statement).orig)


def test_an_operator_erases_and_a_worker_may_not(
        database_url: str, store: EventStore, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a log, and the CLI connected as a worker, then as an operator
    store.append([make_event(text=SECRET, sender="111")])

    def run_as(role: str) -> int:
        joiner = "&" if "?" in database_url else "?"
        monkeypatch.setenv("CONVLOG_DATABASE_URL",
                           f"{database_url}{joiner}options={quote(f'-c role={role}')}")
        return main(["erase", "--sender", "discord:111", "--reason", "ticket 9", "--yes"])

    # When each tries to erase
    as_worker = run_as("convlog_worker")
    worker_error = capsys.readouterr().err
    as_operator = run_as("convlog_operator")
    # Then the worker is refused with a pointer to the operator role, the operator erases
    assert as_worker == 2 and "[ERASE_NOT_PERMITTED]" in worker_error
    assert as_operator == 0
    assert SECRET not in json.dumps([e.payload for e in store.tail(5)])
