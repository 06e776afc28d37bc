"""`driver_rows`: a hot path's statements through the driver, with SQLAlchemy's errors and its
handling of a lost connection."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from eventlog.database import driver_rows, driver_statement

ANSWER = driver_statement(text("SELECT :a::int + 1 AS n, 'x' AS t"))


def test_rows_are_the_drivers_tuples_in_the_callers_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE t (n int)"))
        assert driver_rows(conn, driver_statement(text("INSERT INTO t VALUES (:n)")),
                           {"n": 7}) == []
        # Then the row is seen by SQLAlchemy in the same transaction, and gone on rollback
        assert conn.execute(text("SELECT n FROM t")).scalar_one() == 7
        assert driver_rows(conn, ANSWER, {"a": 41}) == [(42, "x")]


def test_errors_are_sqlalchemys_and_a_lost_connection_is_not_pooled_again(
        engine: Engine) -> None:
    # A statement's error keeps its class, as through execute
    with engine.connect() as conn, pytest.raises(ProgrammingError):
        driver_rows(conn, driver_statement(text("SELECT * FROM no_such_table")), {})
    # Given a pooled connection whose backend is terminated
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.rollback()
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # When a statement goes through the driver on it
        with pytest.raises(OperationalError) as lost:
            driver_rows(conn, ANSWER, {"a": 1})
        # Then it is SQLAlchemy's error for a lost connection, and the connection is let go
        assert lost.value.connection_invalidated
        assert conn.invalidated
    # and the next checkout from the pool works
    with engine.connect() as conn:
        assert driver_rows(conn, ANSWER, {"a": 1}) == [(2, "x")]
