"""`convlog retention plan|run --rules FILE`: retention rules, applied as erasure."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from eventlog.retention import DEFAULT_MAX_SHARE, Plan, RetentionRefused, plan, run, utc_now
from eventlog.retention_rules import RuleSet, load_rules
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, plain, print_json
from workers.cli.search import when


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = verbs.add_parser(
        "retention",
        description="Rules match conversations by chat_type, platform, space and agent and "
                    "erase content older than max_age_days (first matching rule wins; no "
                    "match keeps). Envelopes, positions and token counts stay.")
    sub = retention.add_subparsers(dest="retention_command", required=True, metavar="plan|run")
    show = sub.add_parser("plan", help="what a run would erase now, per rule; erases nothing")
    show.add_argument("--rules", required=True, type=Path, metavar="FILE",
                      help="the retention rules (JSON)")
    show.add_argument("--as-of", type=when, default=None, metavar="TIME",
                      help="compute ages from this time instead of now (preview a later run)")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(handler=run_plan)
    apply = sub.add_parser("run", help="erase what the rules select, audited as one erasure")
    apply.add_argument("--rules", required=True, type=Path, metavar="FILE",
                       help="the retention rules (JSON)")
    apply.add_argument("--reason", metavar="TEXT",
                       help="kept in the audit (default: the rules file's name)")
    apply.add_argument("--yes", action="store_true",
                       help="confirm a run that erases the content of every message, or of "
                            "more than --max-share of them")
    apply.add_argument("--max-share", type=percent, default=None, metavar="PERCENT",
                       help="the share of the messages still holding content that a run may "
                            "erase without --yes (default: CONVLOG_RETENTION_MAX_SHARE, else "
                            f"{DEFAULT_MAX_SHARE * 100:.0f}%%)")  # %% for argparse
    apply.add_argument("--json", action="store_true", help="print JSON instead of text")
    apply.set_defaults(handler=run_run)


def percent(value: str) -> float:
    """`50%`, `50` or `12.5` (percent) as a share from 0 to 1. A bare number from 0 to 1
    is refused as ambiguous: CONVLOG_RETENTION_MAX_SHARE takes 0.5 for half, and
    copied here it would mean half a percent."""
    text = value.strip()
    try:
        number = float(text.removesuffix("%"))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"{value!r} is not a percentage from 0 to 100")
    if 0 < number <= 1 and not text.endswith("%"):
        raise argparse.ArgumentTypeError(
            f"{value!r} is ambiguous: write {number:g}% for {number:g} percent, or "
            f"{number * 100:g} for {number * 100:g} percent")
    return number / 100


def _load(path: Path) -> RuleSet:
    rules = load_rules(path)
    for warning in rules.warnings:
        err_console.print(plain(f"warning [{warning.code}] {warning.where}: {warning.message}"))
    return rules


def run_plan(args: argparse.Namespace) -> int:
    rules = _load(args.rules)
    app = bootstrap()
    result = plan(app.engine, rules, as_of=args.as_of or utc_now(),
                  encoding=app.settings.encoding)
    if args.json:
        print_json({**result.as_dict(),
                    "warnings": [warning.as_dict() for warning in rules.warnings]})
        return 0
    console.print(_table(result))
    _print_totals(result, console)
    if result.needs_yes(app.settings.retention_max_share):
        err_console.print(f"that is {result.share:.0%} of the messages with content: "
                          "`retention run` needs --yes", highlight=False)
    return 0


def _table(result: Plan) -> Table:
    table = Table("rule", "max age", "events", "messages", "senders", "chats", "oldest",
                  "newest",
                  title=plain(f"retention plan as of {result.as_of:%Y-%m-%d %H:%M} UTC"))
    for rule in result.rules:
        age = "keep" if rule.max_age_days is None else f"{rule.max_age_days} days"
        table.add_row(plain(rule.name), age, f"{rule.events:,}", f"{rule.messages:,}",
                      f"{rule.senders:,}", f"{rule.chats:,}",
                      f"{rule.oldest:%Y-%m-%d %H:%M}" if rule.oldest else "-",
                      f"{rule.newest:%Y-%m-%d %H:%M}" if rule.newest else "-")
    return table


def _print_totals(result: Plan, where: Console) -> None:
    where.print(f"would erase the content of {result.events:,} of the {result.with_content:,} "
                f"events that still have content: {result.messages:,} of "
                f"{result.messages_with_content:,} messages ({result.share:.0%}); envelopes, "
                "positions and token counts stay", highlight=False)


def run_run(args: argparse.Namespace) -> int:
    rules = _load(args.rules)
    app = bootstrap()
    share = app.settings.retention_max_share if args.max_share is None else args.max_share
    try:
        result = run(app.engine, rules, as_of=utc_now(), encoding=app.settings.encoding,
                     reason=args.reason, yes=args.yes, max_share=share)
    except RetentionRefused as refused:
        # The plan it refused, on stderr, so a script's stdout stays its own.
        if args.json:
            err_console.print_json(data=refused.plan.as_dict())
        else:
            err_console.print(_table(refused.plan))
            _print_totals(refused.plan, err_console)
        raise
    if args.json:
        print_json(result.as_dict())
        return 0
    console.print(f"erasure {result.erasure_id}: retention erased the content of "
                  f"{result.contents_erased:,} of {result.events_matched:,} events and "
                  f"{result.summaries_erased:,} summaries derived from them; envelopes, "
                  "positions and token counts stay", highlight=False)
    return 0
