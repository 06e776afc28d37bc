"""`convlog catch-up` and `convlog worker`: project the log now, or keep projecting it."""

from __future__ import annotations

import argparse

from projections.projector import Projector
from projections.registry import list_projections
from workers.bootstrap import bootstrap
from workers.commands.output import console, print_json


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catch_up = verbs.add_parser("catch-up", help="project everything appended so far, now")
    catch_up.add_argument("--projection", metavar="NAME",
                          help="only this projection (default: all)")
    catch_up.add_argument("--json", action="store_true")
    catch_up.set_defaults(handler=run_catch_up)

    worker = verbs.add_parser("worker", help="run the projection workers (dramatiq)")
    worker.add_argument("--threads", type=int, default=2)
    worker.add_argument("--tick", type=float, default=5.0,
                        help="seconds between catch-up ticks when no append wakes them")
    worker.set_defaults(handler=run_worker)


def run_catch_up(args: argparse.Namespace) -> int:
    app = bootstrap()
    with app.engine.connect() as conn:
        names = [args.projection] if args.projection else [
            p.name for p in list_projections(conn)]
    report = {}
    for name in names:
        result = Projector(app.engine, app.store, name).catch_up()
        report[name] = {"events": result.events, "checkpoint": result.checkpoint,
                        "seconds": round(result.seconds, 3), "events_per_s": round(result.rate),
                        "skipped": result.skipped}
    if args.json:
        print_json(report)
    else:
        for name, row in report.items():
            state = "busy in another process" if row["skipped"] else (
                f"{row['events']:,} events in {row['seconds']}s "
                f"({row['events_per_s']:,}/s), at position {row['checkpoint']:,}")
            console.print(f"{name}: {state}", highlight=False)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from workers.runner import run_workers

    return run_workers(threads=args.threads, tick_seconds=args.tick)
