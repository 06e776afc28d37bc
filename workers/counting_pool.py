"""Counting tokens for the workers: which encodings are in use, and a process pool that
this command owns (the library only hands ranges to the executor it is given)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import Engine

from eventlog.tokens import CountProgress, count_pending
from projections.registry import find, list_projections
from projections.resolver import compile_policy


def encodings_in_use(engine: Engine, default: str) -> list[str]:
    """The encodings the projections count in (and `default`, the deployment's)."""
    with engine.connect() as conn:
        used = {compile_policy(p.policy).encoding for p in list_projections(conn)}
    return sorted(used | {default})


def encoding_of(engine: Engine, projection: str) -> str | None:
    """The encoding projection `projection` counts in; None when there is no such projection."""
    with engine.connect() as conn:
        info = find(conn, projection)
    return None if info is None else compile_policy(info.policy).encoding


def count_tokens(engine: Engine, encoding: str, *, processes: int = 1, batch: int = 20_000,
                 on_batch: Callable[[CountProgress], None] | None = None) -> CountProgress:
    """Count everything missing for `encoding` up to the horizon.

    With `processes` > 1, a pool of that many processes, started here and ended
    before returning, each reading, counting and writing ranges of `batch`
    positions. Spawned, not forked: the caller may hold connections and threads.
    """
    if processes <= 1:
        return count_pending(engine, encoding, batch=batch, on_batch=on_batch)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        return count_pending(engine, encoding, batch=batch, executor=pool,
                             processes=processes, on_batch=on_batch)
