"""Alembic environment: migrate the connection `convlog init` hands over, or the configured URL."""

from __future__ import annotations

from sqlalchemy import Connection

from alembic import context
from eventlog.database import get_engine
from eventlog.schema import metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    with get_engine().connect() as connection:
        run_migrations(connection)
        connection.commit()
