"""`convlog catch-up` and `convlog worker`: project the log now, or keep projecting it."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from typing import Any

from projections.projector import Projector
from projections.registry import describe_holders, list_projections
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, plain, positive_int, print_json
from workers.cli.progress import build_progress


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catch_up = verbs.add_parser("catch-up")
    catch_up.add_argument("--projection", metavar="NAME",
                          help="only this projection (default: all)")
    catch_up.add_argument("--strict", action="store_true",
                          help="stop at an event that cannot be folded instead of "
                               "quarantining it (also CONVLOG_STRICT_PROJECTION=1)")
    catch_up.add_argument("--json", action="store_true", help="print JSON instead of text")
    catch_up.add_argument("--quiet", action="store_true",
                          help="no progress bar on stderr (the final lines are printed)")
    catch_up.set_defaults(handler=run_catch_up)

    worker = verbs.add_parser("worker")
    worker.add_argument("--threads", type=positive_int, default=2,
                        help="worker threads in this process")
    worker.add_argument("--tick", type=float, default=5.0,
                        help="seconds between catch-up ticks when no append wakes them")
    worker.set_defaults(handler=run_worker)


def run_catch_up(args: argparse.Namespace) -> int:
    app = bootstrap()
    strict = args.strict or app.settings.strict_projection
    with app.engine.connect() as conn:
        names = [args.projection] if args.projection else [
            p.name for p in list_projections(conn)]
    report: dict[str, dict[str, Any]] = {}
    for name in names:
        progress, on_batch = build_progress(app, name, quiet=args.quiet or args.json,
                                            label="catch-up")
        with progress or nullcontext():
            result = Projector(app.engine, app.store, name, strict=strict).catch_up(
                on_batch=on_batch)
        report[name] = {"events": result.events, "checkpoint": result.checkpoint,
                        "seconds": round(result.seconds, 3), "events_per_s": round(result.rate),
                        "skipped": result.skipped, "busy_with": list(result.holders),
                        "quarantined": result.quarantined,
                        "resumed_slices": result.resumed_slices}
    if args.json:
        print_json(report)
        return 0
    for name, row in report.items():
        if row["skipped"]:
            state = (f"busy: {describe_holders(row['busy_with'])} holds its projector lock "
                     "(`convlog worker`, or a build in another terminal)")
        else:
            state = (f"{row['events']:,} events in {row['seconds']}s "
                     f"({row['events_per_s']:,}/s), at position {row['checkpoint']:,}")
            if row["resumed_slices"]:
                state += f"; finished an interrupted parallel build ({row['resumed_slices']}" \
                         " slices)"
            if row["quarantined"]:
                state += f"; {row['quarantined']:,} quarantined"
        console.print(plain(f"{name}: {state}"))
        if row["quarantined"]:
            err_console.print(plain(f"  {name}: events it could not fold were quarantined; "
                                    f"see `convlog projection show {name}`"))
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from workers.actors.runner import run_workers

    return run_workers(threads=args.threads, tick_seconds=args.tick)
