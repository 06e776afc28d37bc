"""`convlog simulate`: what candidate scope policies would cost, side by side with today's."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from eventlog.replica import reads_for
from projections.errors import ProjectionError
from projections.policy import Policy, load_policy
from projections.simulate import Comparison, Params, Prices, Window, compare
from projections.simulate.compare import OnMeasured
from projections.simulate.model import (
    DEFAULT_CACHE_TTL_MINUTES,
    DEFAULT_READ_PRICE,
    DEFAULT_WRITE_PRICE,
)
from workers.bootstrap import App, bootstrap
from workers.cli.output import console, err_console, is_terminal, plain, print_json
from workers.cli.output import positive_int as positive
from workers.tools.html_report.table import column_titles, comparison_rows, describe_window


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = verbs.add_parser("simulate")
    add_comparison_arguments(simulate)
    simulate.add_argument("--json", action="store_true", help="print JSON instead of text")
    simulate.set_defaults(handler=run_simulate)


def add_comparison_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `simulate` and `report` share."""
    parser.add_argument("--policy", action="append", default=[], metavar="FILE",
                        help="a candidate policy (repeat for several)")
    parser.add_argument("--against", default="active", metavar="NAME",
                        help="the projection to compare with: 'active' (default), a "
                             "projection's name, or 'none'")
    parser.add_argument("--budget", type=positive, default=None, metavar="TOKENS",
                        help="context budget per turn (default: each policy's "
                             "compaction.context_limit_tokens)")
    parser.add_argument("--since", type=moment, default=None, metavar="TIME",
                        help="count turns from this time (ISO 8601; UTC unless given)")
    parser.add_argument("--until", type=moment, default=None, metavar="TIME",
                        help="count turns before this time")
    parser.add_argument("--agent", default=None, metavar="ID", help="only this agent's sessions")
    parser.add_argument("--space", default=None, metavar="PLATFORM:ID",
                        help="only messages written in this guild or workspace, e.g. "
                             "discord:1234567890")
    parser.add_argument("--price-write", type=price, default=DEFAULT_WRITE_PRICE,
                        metavar="PER_MILLION", help="cache-write price per million tokens "
                        f"(default {DEFAULT_WRITE_PRICE:g})")
    parser.add_argument("--price-read", type=price, default=DEFAULT_READ_PRICE,
                        metavar="PER_MILLION", help="cache-read price per million tokens "
                        f"(default {DEFAULT_READ_PRICE:g})")
    parser.add_argument("--currency", default="USD", help="what the prices are in")
    # Kept so that scripts written for the release that built each candidate as a
    # projection still run; the log is now read once for every policy.
    parser.add_argument("--workers", type=positive, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--cache-ttl", type=price, default=DEFAULT_CACHE_TTL_MINUTES,
                        metavar="MINUTES", help="how long a prompt cache lives between "
                        f"turns (default {DEFAULT_CACHE_TTL_MINUTES:g})")


def moment(value: str) -> datetime:
    """An argparse type: an ISO 8601 date or time; UTC when it names no zone."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 time; write e.g. 2026-03-01 or "
            "2026-03-01T12:00:00Z") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def price(value: str) -> float:
    """An argparse type: a finite number, zero or more."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be zero or more")
    return number


def candidate_policies(files: list[str], encoding: str) -> list[tuple[str, Policy]]:
    """Each file's policy and a label for it: its name, else the file's stem; unique.

    A policy that names no encoding is measured in `encoding`, the deployment's, as a
    projection created from it would be.
    """
    found: list[tuple[str, Policy]] = []
    seen: set[str] = set()
    for file in files:
        policy = load_policy(file).with_encoding(encoding)
        label = policy.name or Path(file).stem
        base, n = label, 2
        while label in seen:
            label, n = f"{base}-{n}", n + 1
        seen.add(label)
        found.append((label, policy))
    return found


def run_comparison(app: App, args: argparse.Namespace, *,
                   on_measured: OnMeasured | None = None) -> Comparison:
    """The comparison the shared options ask for; progress on stderr at a terminal."""
    if args.since and args.until and args.since >= args.until:
        raise ProjectionError("--since must be before --until", code="INVALID_WINDOW")
    policies = candidate_policies(args.policy, app.settings.encoding)
    against = None if args.against == "none" else args.against
    if not policies and against is None:
        raise ProjectionError("nothing to compare: give --policy FILE (one or more), or "
                              "leave --against at its default", code="NOTHING_TO_SIMULATE")
    params = Params(budget=args.budget, cache_ttl_minutes=args.cache_ttl,
                    prices=Prices(args.price_write, args.price_read, args.currency))
    if args.space is not None and ":" not in args.space:
        raise ProjectionError(f"--space {args.space!r} needs its platform: write it as "
                              "PLATFORM:ID, e.g. discord:1234567890", code="INVALID_SPACE")
    window = Window(upto=0, since=args.since, until=args.until, agent=args.agent,
                    space=args.space)

    if args.workers > 1:
        err_console.print(plain("--workers has no effect any more: the simulation reads "
                                "the log once for every policy"))

    def built(label: str) -> None:
        if is_terminal():
            err_console.print(plain(f"decided the sessions of {label}"))

    return compare(app.engine, app.store, policies, window, params, against=against,
                   on_measured=on_measured, on_built=built,
                   reads=reads_for(app.settings, app.engine))


def comparison_table(comparison: Comparison, *, title: str | None = None) -> Table:
    table = Table(title=plain(title or "the same events under each policy"),
                  caption=plain(describe_window(comparison)))
    table.add_column("")
    for name in column_titles(comparison):
        table.add_column(plain(name), justify="right")
    for label, values in comparison_rows(comparison):
        table.add_row(label, *(plain(v) for v in values))
    return table


def refuse_leaks(comparison: Comparison) -> None:
    """A context that crosses a privacy zone is a bug in convlog: say so and exit 2."""
    leaking = comparison.leaking
    if leaking:
        listing = ", ".join(f"{c.name}: {c.privacy_leak_tokens:,} tokens" for c in leaking)
        raise ProjectionError(
            f"privacy leakage under {listing}; a valid policy never lets context cross a "
            "privacy zone, so this is a bug in convlog: please report it with the policy",
            code="PRIVACY_LEAK")


def run_simulate(args: argparse.Namespace) -> int:
    app = bootstrap()
    comparison = run_comparison(app, args)
    if args.json:
        print_json(comparison.as_dict())
    else:
        console.print(comparison_table(comparison))
    refuse_leaks(comparison)
    return 0
