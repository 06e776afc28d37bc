"""The deployment's settings: the log's, plus the workers' (broker, retention) and the HTTP
API's (`CONVLOG_API_*`: the edge's limits and timeouts)."""

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


class ApiSettings(WorkerSettings):
    """CONVLOG_API_* variables; docs/http-api.md lists them."""

    api_max_body_bytes: int = Field(
        default=16 * 2**20, gt=0, description="Largest request body; over it: 413 BODY_TOO_LARGE.")
    api_separate_folder: bool = Field(
        default=False, description="Set by `convlog serve`, which starts a folder process: "
        "the server's processes follow its checkpoints instead of folding themselves.")
    api_header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a client has to send a request's head (from "
        "connecting, or from its previous response); a slower one is disconnected.")
    api_body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a request's body may pause between chunks; "
        "a slower one is answered 408 REQUEST_TIMEOUT.")
    api_max_batch: int = Field(
        default=5_000, gt=0, description="Most events in one POST /v1/events; 413 BATCH_TOO_LARGE.")
    api_consistency_timeout: float = Field(
        default=5.0, ge=0, description="Seconds a read-your-writes request waits for the "
        "projector before answering 503 PROJECTION_LAGGING.")
    api_catch_up_max_lag: int = Field(
        default=5_000, ge=0, description="A request that needs its projection at most this many "
        "events further folds them itself; a larger lag is left to the workers.")
    api_pool_size: int = Field(default=20, gt=0, description="Database connections per process.")
    api_max_wait_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait_seconds a lease request may ask for.")
