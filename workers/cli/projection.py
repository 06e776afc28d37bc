"""`convlog projection create|list|show|activate|rollback|drop`."""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

from rich.table import Table

from projections.parallel import rebuild_parallel
from projections.policy import Policy, load_policy
from projections.queries import quarantined_events
from projections.registry import create, describe_holders, drop, get, list_projections
from projections.rescoping import activate_when_caught_up, build, rollback_when_caught_up
from projections.status import status
from workers.bootstrap import App, bootstrap
from workers.cli.output import (
    console,
    err_console,
    non_negative_int,
    plain,
    positive_int,
    print_json,
)
from workers.cli.progress import build_progress

SHOWN_QUARANTINED = 20  # `show` lists this many; --json up to JSON_QUARANTINED
JSON_QUARANTINED = 1_000


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    projection = verbs.add_parser("projection")
    sub = projection.add_subparsers(dest="projection_command", required=True,
                                    metavar="create|list|show|activate|rollback|drop")
    create = sub.add_parser("create", help="build a projection from the whole log")
    create.add_argument("name", help="the new projection's name")
    create.add_argument("--policy", metavar="FILE", help="the scope policy (JSON); omit to "
                        "resume a build that was interrupted")
    create.add_argument("--activate", action="store_true", help="activate once caught up")
    create.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (the final status is printed)")
    create.add_argument("--workers", type=positive_int, default=1,
                        help="processes for the rebuild (slices by agent/platform/account)")
    create.add_argument("--slices", type=positive_int, metavar="N",
                        help="hand the rebuild in N slices to the `convlog worker` processes "
                        "on CONVLOG_BROKER_URL (any host), wait for them and merge")
    create.add_argument("--strict", action="store_true", help="stop at an event that cannot "
                        "be folded instead of quarantining it")
    create.set_defaults(handler=run_create)
    listing = sub.add_parser("list", help="all projections with their status")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(handler=run_list)
    show = sub.add_parser("show", help="one projection's status, lag, sessions, tokens, "
                          "quarantined events")
    show.add_argument("name", nargs="?", help="default: the active one")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(handler=run_show)
    activate = sub.add_parser("activate", help="make a caught-up projection the active one")
    activate.add_argument("name", help="the projection gateways get from now on")
    activate.add_argument("--wait", action="store_true", help="catch it up first, then switch")
    activate.set_defaults(handler=run_activate)
    back = sub.add_parser("rollback", help="reactivate the previous projection (refused "
                          "while it is behind the log)")
    back.add_argument("--wait", action="store_true", help="catch it up first, then switch")
    back.add_argument("--force", action="store_true",
                      help="switch even though it is behind the log")
    back.set_defaults(handler=run_rollback)
    remove = sub.add_parser("drop", help="remove a projection's rows (never an event)")
    remove.add_argument("name", help="the projection to drop (never the active one)")
    remove.add_argument("--timeout", type=non_negative_int, default=30, metavar="SECONDS",
                        help="how long to wait for a projector working on it (default 30)")
    remove.set_defaults(handler=run_drop)


def _exists(app: App, name: str) -> bool:
    with app.engine.connect() as conn:
        return any(p.name == name for p in list_projections(conn))


def run_create(args: argparse.Namespace) -> int:
    app = bootstrap()
    strict = args.strict or app.settings.strict_projection
    policy = load_policy(args.policy) if args.policy else None
    if policy is None and not _exists(app, args.name):
        err_console.print(plain(f"convlog: {args.name!r} does not exist yet; give --policy "
                                "FILE"))
        return 2
    if args.slices:
        return _create_on_workers(app, args, policy, strict)
    if policy is not None:
        with app.engine.begin() as conn:
            create(conn, args.name, policy, app.settings.encoding)
    if args.workers > 1:
        started = time.perf_counter()
        result = rebuild_parallel(app.engine, app.store, args.name, args.workers,
                                  strict=strict)
        elapsed = time.perf_counter() - started
        err_console.print(f"rebuilt {result.events:,} events in {result.slices} slices with "
                          f"{result.workers} workers in {elapsed:.1f}s "
                          f"({result.events / max(elapsed, 1e-9):,.0f} events/s)",
                          highlight=False)
    # Without --workers this also resumes a killed parallel build, slice by slice.
    progress, on_batch = build_progress(app, args.name, quiet=args.quiet, lines=True)
    with progress or nullcontext():
        build(app.engine, app.store, args.name, on_batch=on_batch, strict=strict)
    if args.activate:
        activate_when_caught_up(app.engine, app.store, args.name, wait=True)
    _print_status(app, args.name, as_json=False)
    return 0


def _create_on_workers(app: App, args: argparse.Namespace, policy: Policy | None,
                       strict: bool) -> int:
    """`create --slices N`: the slices go to the workers through the broker; this process
    creates the projection, hands them out, watches and merges, then waits until the
    projection has caught up (a worker's catch-up may fold the rest)."""
    from projections.distributed import build_on_workers, wait_caught_up
    from workers.jobs import setup

    if args.workers > 1:
        err_console.print("convlog: --slices hands the build to the workers, --workers runs "
                          "it in processes here; give one of them")
        return 2
    if not app.settings.broker_url:
        err_console.print("convlog: --slices needs CONVLOG_BROKER_URL, the broker the "
                          "`convlog worker` processes take jobs from; without one, use "
                          "--workers N to build in processes here")
        return 2
    broker, jobs = setup(app.settings)
    try:
        started = time.perf_counter()
        result = build_on_workers(
            app.engine, app.store, args.name, args.slices, jobs.fold_slice.send,
            policy=policy, encoding=app.settings.encoding, strict=strict,
            on_stall=lambda line: err_console.print(plain(f"convlog: {line}")))
    finally:
        broker.close()
    elapsed = time.perf_counter() - started
    err_console.print(f"folded {result.positions:,} positions in {result.slices} slices on the "
                      f"workers in {elapsed:.1f}s", highlight=False)
    wait_caught_up(app.engine, app.store, args.name, strict=strict)
    if args.activate:
        activate_when_caught_up(app.engine, app.store, args.name, wait=True)
    _print_status(app, args.name, as_json=False)
    return 0


def _print_status(app: App, name: str | None, *, as_json: bool,
                  list_quarantined: bool = False) -> None:
    s = status(app.engine, name)
    with app.engine.connect() as conn:
        projection_id = get(conn, s.name).id
        limit = JSON_QUARANTINED if as_json else SHOWN_QUARANTINED
        quarantined = quarantined_events(conn, projection_id, limit=limit) \
            if list_quarantined and s.quarantined else []
    if as_json:
        print_json({**s.__dict__, **({"quarantined_events": [q.as_dict() for q in quarantined]}
                                     if list_quarantined else {})})
        return
    console.print(plain(
        f"{s.name}{' (active)' if s.active else ''}: {s.state}, at {s.checkpoint:,} "
        f"of {s.horizon:,}, lag {s.lag_events:,} events / {s.lag_seconds:.1f}s, "
        f"{s.sessions:,} sessions, {s.tokens:,} tokens, {s.quarantined:,} quarantined"))
    for q in quarantined:
        console.print(plain(f"  quarantined: position {q.position} [{q.code}] {q.error}"))
    if len(quarantined) < s.quarantined:
        console.print(plain(f"  ... {s.quarantined - len(quarantined):,} more; all of them: "
                            f"convlog projection show {s.name} --json"))
    if quarantined:
        console.print(plain("  (events this projection could not fold; it went on without "
                            "them. A projection built afresh folds them again.)"))


def run_list(args: argparse.Namespace) -> int:
    app = bootstrap()
    with app.engine.connect() as conn:
        names = [p.name for p in list_projections(conn)]
    rows = [status(app.engine, name) for name in names]
    if args.json:
        print_json([row.__dict__ for row in rows])
        return 0
    table = Table("name", "active", "state", "checkpoint", "lag", "sessions", "tokens",
                  "quarantined")
    for row in rows:
        table.add_row(plain(row.name), "yes" if row.active else "", plain(row.state),
                      f"{row.checkpoint:,}", f"{row.lag_events:,}", f"{row.sessions:,}",
                      f"{row.tokens:,}", f"{row.quarantined:,}")
    console.print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    _print_status(bootstrap(), args.name, as_json=args.json, list_quarantined=True)
    return 0


def run_activate(args: argparse.Namespace) -> int:
    app = bootstrap()
    previous = activate_when_caught_up(app.engine, app.store, args.name, wait=args.wait)
    was = f" (was {previous.name}; `convlog projection rollback` goes back)" if previous else ""
    console.print(plain(f"active projection: {args.name}{was}"))
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    app = bootstrap()
    left, back_to = rollback_when_caught_up(app.engine, app.store, wait=args.wait,
                                            force=args.force)
    console.print(plain(f"active projection: {back_to} (was {left})"))
    return 0


def run_drop(args: argparse.Namespace) -> int:
    app = bootstrap()

    def waiting(holders: list[int]) -> None:
        err_console.print(plain(
            f"waiting up to {args.timeout}s for the projector lock of {args.name}, held by "
            f"{describe_holders(holders)} (a catch-up or build in progress) ..."))

    with app.engine.begin() as conn:
        drop(conn, get(conn, args.name), timeout_seconds=args.timeout, on_wait=waiting)
    console.print(plain(f"dropped projection {args.name}; no event was touched"))
    return 0
