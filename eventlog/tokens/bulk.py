"""Counting a backlog: everything missing for an encoding up to the horizon, in batches.

In-process, each batch is one short transaction under the encoding's counting
lock (what ensure_counted does). With an executor (processes that the calling
command owns: a library never starts processes of its own), each process reads
and counts a range of positions itself and writes it in its own transaction;
the parent moves the watermark once every range below it has committed.
Ranges are read by the processes, not the parent, so only four numbers travel
to each process and one comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from eventlog.schema import log_horizon
from eventlog.tokens.counting import (
    advance_watermark,
    count_locked,
    count_range,
    watermark,
)
from eventlog.tokens.encodings import TokenCounter, check_encoding

BATCH = 20_000  # positions per transaction (and per range handed to a process)


@dataclass
class CountProgress:
    """What a bulk count did: rows written, the watermark reached, the horizon aimed at."""

    encoding: str
    start: int
    target: int
    counted_upto: int
    rows: int = 0
    batches: int = 0


_ENGINES: dict[str, Engine] = {}


def count_range_job(url: str, encoding: str, after: int, upto: int) -> int:
    """Count (after, upto] in a process of a pool: its own connection and transaction."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        return count_range(conn, encoding, after, upto, TokenCounter(encoding))


def warm_up(encoding: str) -> int:
    """Load `encoding`'s counter in a pool's process (its ranks take a moment to load)."""
    return TokenCounter(encoding).count("warm")


def count_pending(engine: Engine, encoding: str, *, batch: int = BATCH,
                  executor: Executor | None = None, processes: int = 1,
                  counter: TokenCounter | None = None,
                  on_batch: Callable[[CountProgress], None] | None = None) -> CountProgress:
    """Count every event up to the horizon (as it is now) that has no `encoding` count.

    With `executor`, `processes` ranges of `batch` positions are counted at once
    by its processes; the engine's URL is passed to them, so they reach the same
    database.
    """
    check_encoding(encoding)
    with engine.connect() as conn:
        target = log_horizon(conn)
        mark = watermark(conn, encoding)
    progress = CountProgress(encoding, mark, target, mark)
    counter = counter or TokenCounter(encoding)
    url = engine.url.render_as_string(hide_password=False)
    while progress.counted_upto < target:
        mark = progress.counted_upto
        if executor is None:
            end = min(mark + batch, target)
            with engine.begin() as conn:
                progress.rows += count_locked(conn, encoding, end, counter)
        else:
            bounds = [min(mark + i * batch, target) for i in range(max(processes, 1) + 1)]
            ranges = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
            progress.rows += sum(executor.map(
                count_range_job, *zip(*[(url, encoding, a, b) for a, b in ranges],
                                      strict=True)))
            end = ranges[-1][1]
            with engine.begin() as conn:
                advance_watermark(conn, encoding, end)
        progress.counted_upto = end
        progress.batches += 1
        if on_batch is not None:
            on_batch(progress)
    return progress
