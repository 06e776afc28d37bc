"""Rebuild: a full re-projection against one window statement and against the write limit.

The write limit (`bench.reference.write_limit`) writes the rows a per-user projection
holds into indexed tables by window statements; the per-user build is measured beside
it on the same events in the same run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bench import reference
from bench.harness import Bench, catch_up, ensure_loaded, log, rate
from projections.policy import Policy
from projections.registry import create


def measure(bench: Bench) -> dict[str, Any]:
    """A full re-projection under the default policy vs one window-function statement."""
    ensure_loaded(bench)
    window = reference.window_rebuild(bench.conninfo)
    log(f"  SQL window: {window.rate:,.0f} events/s ({window.sessions:,} keys)")
    name = "bench_rebuild"
    bench.new_projection(name)
    result, seconds = catch_up(bench, name)
    bench.main_projection = name
    projector = rate(result.events, seconds)
    pid = bench.projection_id(name)
    per_user = per_user_build(bench)
    return {**per_user,
        "events": result.events, "seconds": seconds, "projector_events_per_s": projector,
        "batches": result.batches,
        "sessions": bench.scalar("SELECT count(*) FROM sessions WHERE projection_id = :p",
                                 p=pid),
        "members": bench.scalar(
            "SELECT count(*) FROM session_members WHERE projection_id = :p", p=pid),
        "sql_events_per_s": window.rate, "sql_seconds": window.seconds,
        "sql_rows": window.rows, "sql_keys": window.sessions,
        "ratio": projector / window.rate if window.rate else None,
    }


PER_USER = {"name": "per-user", "dimensions": ["chat", "sender"]}


def per_user_build(bench: Bench) -> dict[str, Any]:
    """`projection create` under a per-user policy beside the write limit, each timed once."""
    limit = reference.write_limit(bench.conninfo)
    log(f"  write limit: {limit.rate:,.0f} events/s ({limit.members:,} members)")
    name = "bench_per_user"
    with bench.engine.begin() as conn:
        create(conn, name, Policy.model_validate(PER_USER))
    # From a checkpoint, as the write limit starts: otherwise the build pays for flushing
    # what the write limit left dirty (and the checkpoint its WAL brings on).
    with bench.engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
    result, seconds = catch_up(bench, name)
    built = rate(result.events, seconds)
    log(f"  per-user build: {built:,.0f} events/s")
    return {"per_user_events_per_s": built, "per_user_seconds": seconds,
            "write_limit_events_per_s": limit.rate, "write_limit_seconds": limit.seconds,
            "write_limit_members": limit.members,
            "per_user_ratio": built / limit.rate if limit.rate else None}
