"""Destructive downgrades refuse to drop the log (or the erasure audit) unless told explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text

from eventlog.store import EventStore
from tests.fixtures.builders import make_event
from workers.cli.main import main
from workers.migrate import ensure_current

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The `alembic` command line, as an operator types it, against this test's database."""
    env = {**os.environ, "CONVLOG_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *arguments],
                          capture_output=True, text=True, env=env, check=False, timeout=300)


def revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def test_downgrade_base_refuses_to_drop_a_log_that_holds_events(
        store: EventStore, engine: Engine, database_url: str) -> None:
    # Given a log with events
    store.append([make_event(text="keep me"), make_event()])
    # When `alembic downgrade base` is run without saying data may be lost
    done = alembic(database_url, "downgrade", "base")
    # Then it stops with a message that says why and how to insist, and changes nothing
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "FAILED: [DATA_LOSS_REFUSED]" in said and "Traceback" not in said
    assert "would drop the rows of events" in said
    assert "alembic -x allow-data-loss=yes downgrade" in said
    ensure_current(engine)
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE c.text = 'keep me') FROM events "
            "JOIN event_content c USING (position)")).one() == (2, 1)


def test_downgrade_base_drops_the_log_when_told_explicitly(
        store: EventStore, engine: Engine, database_url: str) -> None:
    # Given a log with events
    store.append([make_event()])
    # When the operator insists
    done = alembic(database_url, "-x", "allow-data-loss=yes", "downgrade", "base")
    # Then the schema is gone
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('events')")).scalar_one() is None


def test_an_empty_log_downgrades_and_upgrades_again_without_asking(
        engine: Engine, database_url: str) -> None:
    # Given a migrated database with no events
    # When it is downgraded to nothing and upgraded again
    down = alembic(database_url, "downgrade", "base")
    up = alembic(database_url, "upgrade", "head")
    # Then both run, since no row is lost
    assert down.returncode == 0, down.stderr
    assert up.returncode == 0, up.stderr
    ensure_current(engine)


def test_downgrading_the_erasure_revision_keeps_content_and_refuses_to_drop_the_audit(
        store: EventStore, engine: Engine, database_url: str, cli_env: str) -> None:
    # Given content in the log
    store.append([make_event(text="first words", message_id="d1"),
                  make_event(text="second words", sender="222", message_id="d2")])
    head = revision(engine)
    # When the erasure revision is downgraded and upgraded again
    down = alembic(database_url, "downgrade", "0004")
    assert down.returncode == 0, down.stderr
    with engine.connect() as conn:
        in_payload = conn.execute(text("SELECT payload->>'text' FROM events ORDER BY position")
                                  ).scalars().all()
    up = alembic(database_url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    # Then the content went back into the payload and out again, unharmed
    assert in_payload == ["first words", "second words"]
    assert [e.text for e in store.tail(5)] == ["first words", "second words"]
    # When an erasure has been recorded, the same downgrade would lose the audit
    assert main(["erase", "--sender", "discord:222", "--reason", "ticket 3", "--yes"]) == 0
    refused = alembic(database_url, "downgrade", "0004")
    # Then it refuses, naming the audit
    assert refused.returncode != 0
    assert "the rows of erasures" in refused.stdout + refused.stderr
    assert revision(engine) == head
