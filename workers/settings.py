"""Settings of the workers: the log's settings plus the dramatiq broker."""

from __future__ import annotations

from pydantic import Field

from eventlog.settings import Settings


class WorkerSettings(Settings):
    broker_url: str | None = Field(
        default=None, description="amqp:// or redis:// for dramatiq; unset means in-process."
    )
    strict_projection: bool = Field(
        default=False, description="Stop at an event a projection cannot fold instead of "
        "quarantining it (CONVLOG_STRICT_PROJECTION=1); --strict does the same per command."
    )
