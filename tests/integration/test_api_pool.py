"""The server's pool keeps the connections a busy moment opened: each would otherwise be
closed as it came back and opened again (a new backend, cold caches) at the next one."""

from __future__ import annotations

from contextlib import ExitStack

from sqlalchemy import text

from workers.api.services import build_services
from workers.settings import ApiSettings


def test_connections_opened_when_busy_are_kept(
        database_url: str) -> None:
    # Given a server's services with a pool of 3
    services = build_services(ApiSettings(database_url=database_url, api_pool_size=3))
    engine = services.engine
    try:
        # When a busy moment takes six connections at once, and gives them back
        with ExitStack() as held:
            pids = {held.enter_context(engine.connect()).execute(
                text("SELECT pg_backend_pid()")).scalar_one() for _ in range(6)}
        # Then all six stay open in the pool, and the next busy moment gets the same ones
        assert engine.pool.checkedin() == 6  # type: ignore[attr-defined]
        with ExitStack() as held:
            again = {held.enter_context(engine.connect()).execute(
                text("SELECT pg_backend_pid()")).scalar_one() for _ in range(6)}
        assert again == pids
    finally:
        services.close()
