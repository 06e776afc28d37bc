"""Settings of the workers: the log's settings plus the dramatiq broker."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from eventlog.retention import DEFAULT_MAX_SHARE
from eventlog.settings import Settings


class WorkerSettings(Settings):
    broker_url: str | None = Field(
        default=None, description="amqp:// or redis:// for dramatiq; unset means in-process."
    )
    strict_projection: bool = Field(
        default=False, description="Stop at an event a projection cannot fold instead of "
        "quarantining it (CONVLOG_STRICT_PROJECTION=1); --strict does the same per command."
    )
    search_config: str = Field(
        default="simple", description="PostgreSQL text search configuration of the search "
        "index (CONVLOG_SEARCH_CONFIG): simple finds ids and code in any language; changing "
        "it needs `convlog search --reindex`."
    )
    retention_rules: Path | None = Field(
        default=None, description="A retention rules file (CONVLOG_RETENTION_RULES): the "
        "worker applies it once a day."
    )
    retention_max_share: float = Field(
        default=DEFAULT_MAX_SHARE, ge=0, le=1, description="The share (0 to 1) of the "
        "messages still holding content that one retention run may erase without --yes "
        "(CONVLOG_RETENTION_MAX_SHARE); the daily run never passes --yes."
    )
