"""Schema upgrades through Alembic, and the check that the schema is current."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from alembic import command
from eventlog.convlog_errors import SchemaMissingError

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "alembic"


def alembic_config() -> Config:
    if not (SCRIPT_LOCATION / "env.py").exists():
        raise SchemaMissingError(
            f"the migrations folder {SCRIPT_LOCATION} is missing; install convlog from its "
            "source tree with `pip install -e .`"
        )
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head; returns (revision before, revision after). Safe to repeat."""
    config = alembic_config()
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
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
