"""Wiring: settings → engine → the log's store (and later the projection services)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from eventlog.database import get_engine
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from workers.migrate import ensure_current
from workers.settings import WorkerSettings


@dataclass(frozen=True)
class App:
    settings: WorkerSettings
    engine: Engine
    store: EventStore


def bootstrap(settings: WorkerSettings | None = None, *, check_schema: bool = True) -> App:
    settings = settings or WorkerSettings()
    engine = get_engine(settings)
    if check_schema:
        ensure_current(engine)
    return App(settings, engine, EventStore(engine, TokenCounter(settings.encoding)))
