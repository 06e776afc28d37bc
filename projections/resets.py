"""Time-based session resets, computed from occurred_at so re-projection repeats them."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

from projections.policy import ResetPolicy


def timed_reset(policy: ResetPolicy, last_user_at: datetime | None,
                occurred_at: datetime) -> str | None:
    """'daily' or 'idle' when a user message at `occurred_at` starts a new session."""
    if policy.mode == "none" or last_user_at is None or occurred_at <= last_user_at:
        return None
    if policy.mode in ("idle", "both") and (
            occurred_at - last_user_at > timedelta(minutes=policy.idle_minutes)):
        return "idle"
    if policy.mode in ("daily", "both") and _crossed_daily_boundary(policy, last_user_at,
                                                                   occurred_at):
        return "daily"
    return None


def _crossed_daily_boundary(policy: ResetPolicy, before: datetime, after: datetime) -> bool:
    zone = zoneinfo.ZoneInfo(policy.timezone) if policy.timezone else UTC
    local = after.astimezone(zone)
    boundary = local.replace(hour=policy.at_hour, minute=0, second=0, microsecond=0)
    if boundary > local:
        boundary -= timedelta(days=1)
    return before.astimezone(zone) < boundary
