"""Settings of the HTTP API: the workers' settings plus the edge's limits and timeouts."""

from __future__ import annotations

from pydantic import Field

from workers.settings import WorkerSettings


class ApiSettings(WorkerSettings):
    """CONVLOG_API_* variables; the README's HTTP section lists them."""

    api_max_body_bytes: int = Field(
        default=16 * 2**20, gt=0, description="Largest request body; over it: 413 BODY_TOO_LARGE.")
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
