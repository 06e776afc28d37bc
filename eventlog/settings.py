"""Runtime settings, read from CONVLOG_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventlog.encoding_names import DEFAULT_ENCODING

ROOT_HOME = Path("/var/lib/convlog")
DEFAULT_REPLICA_TIMEOUT = 0.5


def default_home() -> Path:
    """The user's data dir; for root, /var/lib/convlog, which the embedded server's own
    user can reach without any folder being opened (unless an earlier release's data
    is in root's data dir, which stays where it is)."""
    personal = platformdirs.user_data_path("convlog")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not (personal / "pgdata").exists():
        return ROOT_HOME
    return personal


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVLOG_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="Postgres URL; unset means the embedded server under home."
    )
    read_database_url: str | None = Field(
        default=None, description="A hot standby of the database (CONVLOG_READ_DATABASE_URL): "
        "reads that need not see the newest writes go there (eventlog.replica); unset means "
        "every read goes to CONVLOG_DATABASE_URL."
    )
    read_replica_timeout: float = Field(
        default=DEFAULT_REPLICA_TIMEOUT, ge=0, description="Seconds a read that must see a "
        "position waits for the standby to replay it before the primary serves it instead "
        "(CONVLOG_READ_REPLICA_TIMEOUT)."
    )
    home: Path = Field(default_factory=lambda: default_home())
    encoding: str = DEFAULT_ENCODING
    max_text_chars: int = Field(default=200_000, gt=0)
    ingest_batch_size: int = Field(default=5_000, gt=0)
