"""The schema: Alembic upgrades an empty database; the database refuses to change events."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.database import libpq_url, scratch_database
from eventlog.errors import SchemaMissingError
from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from workers.migrate import ensure_current, head_revision, upgrade


@pytest.fixture
def empty_engine(admin_url: str) -> Iterator[Engine]:
    with scratch_database(admin_url, "convlog_empty") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


def test_upgrade_from_an_empty_database_is_repeatable(empty_engine: Engine) -> None:
    # Given a database with no schema, commands refuse with a clear pointer to init
    with pytest.raises(SchemaMissingError, match="convlog init"):
        ensure_current(empty_engine)
    # When it is upgraded twice
    first = upgrade(empty_engine)
    second = upgrade(empty_engine)
    # Then the first creates the schema and the second finds nothing to do
    assert first == (None, head_revision())
    assert second == (head_revision(), head_revision())
    ensure_current(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 0


def test_concurrent_inits_end_in_one_schema_and_all_succeed(admin_url: str) -> None:
    # Given an empty database, and four `convlog init` started at once (as `docker compose
    # up` starts a worker and the API, each running init)
    with scratch_database(admin_url, "convlog_inits") as url:
        env = {**os.environ, "CONVLOG_DATABASE_URL": url}
        children = [subprocess.Popen([sys.executable, "-m", "workers.cli.main", "init"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True) for _ in range(4)]
        outcomes = [(child.wait(timeout=120), child.stderr.read() if child.stderr else "")
                    for child in children]
        for child in children:
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
        # Then every one exits 0, the schema is at head, with one active default projection
        assert [status for status, _ in outcomes] == [0] * 4, outcomes
        engine = create_engine(url)
        try:
            ensure_current(engine)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT name FROM projections")).scalars().all() == [
                    "default"]
                assert conn.execute(text("SELECT count(*) FROM active_projection")
                                    ).scalar_one() == 1
        finally:
            engine.dispose()


@pytest.mark.parametrize("statement", [
    "UPDATE events SET tokens = 1",
    "UPDATE events SET payload = '{}'::jsonb WHERE position = 1",
    "DELETE FROM events",
    "DELETE FROM events WHERE position = 1",
    "TRUNCATE events",
])
def test_database_refuses_to_change_events(store: EventStore, engine: Engine,
                                           statement: str) -> None:
    # Given a log with one event
    store.append([make_event(text="one two three")])
    with engine.connect() as conn:
        original = conn.execute(text("SELECT payload::text FROM events")).scalar_one()
    # When anyone, even the table's owner, tries to rewrite or remove it
    with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(text(statement))
    # Then the event is still there, unchanged
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), max(payload::text) FROM events")).one() == (
            1, original)


def test_cli_init_reports_current_schema(cli_env: str, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    from workers.cli.main import main

    assert main(["init"]) == 0
    assert f"schema is current (revision {head_revision()})" in capsys.readouterr().out


def test_unreachable_database_url_gives_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from workers.cli.main import main

    monkeypatch.setenv("CONVLOG_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["log", "stats"]) == 2
    err = capsys.readouterr().err
    assert "[DATABASE]" in err and "CONVLOG_DATABASE_URL" in err


def test_non_postgres_url_is_refused(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from workers.cli.main import main

    monkeypatch.setenv("CONVLOG_DATABASE_URL", "mysql://root@127.0.0.1/test")
    assert main(["init"]) == 2
    assert "must point at PostgreSQL" in capsys.readouterr().err


def test_libpq_url_round_trips() -> None:
    assert libpq_url("postgres://u@h:5/d") == "postgresql://u@h:5/d"
