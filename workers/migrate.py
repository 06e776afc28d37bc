"""Schema upgrades through Alembic, and the check that the schema is current.

The migrations create the log's table and the projections' tables, so their
runner lives here, in the outer layer that knows both. They are the top-level
`alembic/` folder: a wheel ships it inside the package as `workers/migrations`
(setup.py maps the folder), and a source checkout (an editable install, a test
run) reads it where it is, so either can initialise a database.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from alembic import command
from eventlog.errors import ConfigurationError, SchemaMissingError
from eventlog.schema import hold_migrations


def script_location() -> Path:
    """The migrations folder: inside the installed package, else the checkout's `alembic/`."""
    package = Path(str(files("workers")))
    location = package / "migrations"
    if not (location / "env.py").is_file():
        location = package.parent / "alembic"
    if not (location / "env.py").is_file():
        raise ConfigurationError(
            f"the migrations folder {location} is missing or incomplete; reinstall convlog "
            "(`pip install --force-reinstall convlog`)", code="MIGRATIONS_MISSING")
    return location


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    return config


def upgrade(engine: Engine,
            then: Callable[[Connection], None] | None = None) -> tuple[str | None, str]:
    """Upgrade to head, and run `then` in the same transaction (a default projection,
    say), under a lock that serializes concurrent inits. Returns (revision before,
    revision after). Safe to repeat, and to run from several processes at once."""
    config = alembic_config()
    with engine.begin() as connection:
        hold_migrations(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        if then is not None:
            then(connection)
    return before, head_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def ensure_current(engine: Engine) -> None:
    """Raise a clear error when `convlog init` has not been run on this database."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head_revision():
        state = "has no convlog schema" if current is None else f"is at revision {current}"
        raise SchemaMissingError(f"the database {state}; run `convlog init` first")
