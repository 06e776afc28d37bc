"""Alembic environment: migrate the connection `convlog init` hands over, or the configured URL."""

from __future__ import annotations

from alembic.util import CommandError
from sqlalchemy import Connection, text

from alembic import context
from eventlog.database import get_engine
from eventlog.schema import DataLossRefused, metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
        settle_privileges(connection)


def settle_privileges(connection: Connection) -> None:
    """Hand what the migrations made to the NOLOGIN owner and re-apply the roles' grants.

    From revision 0005 on; after every upgrade, so that a table a later migration
    adds is owned and granted like the others without each migration repeating it.
    """
    settle = connection.execute(
        text("SELECT to_regprocedure('convlog_settle_privileges()')")).scalar_one()
    if settle is not None:
        connection.execute(text("SELECT convlog_settle_privileges()"))


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    try:
        with get_engine().connect() as connection:
            run_migrations(connection)
            connection.commit()
    except DataLossRefused as error:
        # The alembic command line prints a CommandError as one line, not a traceback.
        raise CommandError(f"[{error.code}] {error}") from None
