"""Runtime settings, read from CONVLOG_* environment variables."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventlog.encoding_names import DEFAULT_ENCODING


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVLOG_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="Postgres URL; unset means the embedded server under home."
    )
    home: Path = Field(default_factory=lambda: platformdirs.user_data_path("convlog"))
    encoding: str = DEFAULT_ENCODING
    max_text_chars: int = Field(default=200_000, gt=0)
    ingest_batch_size: int = Field(default=5_000, gt=0)
