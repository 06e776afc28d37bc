"""Progress of long work on stderr: a bar at a terminal, and quiet with --quiet."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from projections.projector.state import BatchResult
from projections.registry import get
from workers.bootstrap import App
from workers.cli.output import err_console, is_terminal


def build_progress(app: App, name: str, *, quiet: bool = False, lines: bool = False,
                   label: str = "build"
                   ) -> tuple[Progress | None, Callable[[BatchResult], None] | None]:
    """A bar on stderr at a terminal while `name` folds (events, rate, time left); None
    with --quiet; elsewhere a JSON line every two seconds when `lines`, else nothing."""
    if quiet or not (is_terminal() or lines):
        return None, None
    with app.engine.connect() as conn:
        start, horizon = get(conn, name).checkpoint, app.store.horizon(conn)
    started = time.perf_counter()
    done = [0]
    if is_terminal():
        progress = Progress(TextColumn(f"{label} {name}"), BarColumn(),
                            TextColumn("{task.completed:,}/{task.total:,} events"),
                            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                            console=err_console)
        task = progress.add_task("", total=max(horizon - start, 1), rate="")

        def on_batch(batch: BatchResult) -> None:
            done[0] += batch.events
            rate = done[0] / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=done[0], rate=f"{rate:,.0f} events/s")
        return progress, on_batch
    last = [0.0]

    def on_batch_lines(batch: BatchResult) -> None:
        done[0] += batch.events
        now = time.perf_counter()
        if now - last[0] >= 2.0 or batch.checkpoint >= horizon:
            last[0] = now
            elapsed = max(now - started, 1e-9)
            rate = done[0] / elapsed
            remaining = max(horizon - batch.checkpoint, 0)
            sys.stderr.write(json.dumps({
                "projection": name, "events": done[0], "checkpoint": batch.checkpoint,
                "horizon": horizon, "events_per_s": round(rate),
                "eta_s": round(remaining / rate, 1) if rate else None}) + "\n")
    return None, on_batch_lines


def count_progress(quiet: bool = False) -> tuple[Progress | None, Callable[[str, int, int], None]]:
    """A bar per encoding while tokens are counted: (encoding, counted up to, target)."""
    if quiet or not is_terminal():
        return None, lambda encoding, done, target: None
    progress = Progress(TextColumn("count {task.description}"), BarColumn(),
                        TextColumn("position {task.completed:,} of {task.total:,}"),
                        TimeRemainingColumn(), console=err_console)
    tasks: dict[str, TaskID] = {}

    def on_batch(encoding: str, done: int, target: int) -> None:
        if encoding not in tasks:
            tasks[encoding] = progress.add_task(encoding, total=target)
        progress.update(tasks[encoding], completed=done, total=target)
    return progress, on_batch

