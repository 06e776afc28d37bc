"""Runtime settings, read from CONVLOG_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventlog.encoding_names import DEFAULT_ENCODING

ROOT_HOME = Path("/var/lib/convlog")


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
    home: Path = Field(default_factory=lambda: default_home())
    encoding: str = DEFAULT_ENCODING
    max_text_chars: int = Field(default=200_000, gt=0)
    ingest_batch_size: int = Field(default=5_000, gt=0)
