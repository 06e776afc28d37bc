"""`convlog retention plan|run --rules FILE`: retention rules, applied as erasure."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from eventlog.retention import plan, run, utc_now
from eventlog.retention_rules import RuleSet, load_rules
from workers.bootstrap import bootstrap
from workers.commands.output import console, err_console, plain, print_json
from workers.commands.search import when


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = verbs.add_parser(
        "retention", help="retention rules: what they would erase, and erasing it",
        description="Rules match conversations by chat_type, platform, space and agent and "
                    "erase content older than max_age_days (first matching rule wins; no "
                    "match keeps). Envelopes, positions and token counts stay.")
    sub = retention.add_subparsers(dest="retention_command", required=True, metavar="plan|run")
    show = sub.add_parser("plan", help="what a run would erase now, per rule; erases nothing")
    show.add_argument("--rules", required=True, type=Path, metavar="FILE")
    show.add_argument("--as-of", type=when, default=None, metavar="TIME",
                      help="compute ages from this time instead of now (preview a later run)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_plan)
    apply = sub.add_parser("run", help="erase what the rules select, audited as one erasure")
    apply.add_argument("--rules", required=True, type=Path, metavar="FILE")
    apply.add_argument("--reason", metavar="TEXT",
                       help="kept in the audit (default: the rules file's name)")
    apply.add_argument("--yes", action="store_true",
                       help="confirm a run that erases the content of every conversation")
    apply.add_argument("--json", action="store_true")
    apply.set_defaults(handler=run_run)


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
    table = Table("rule", "max age", "events", "senders", "chats", "oldest", "newest",
                  title=plain(f"retention plan as of {result.as_of:%Y-%m-%d %H:%M} UTC"))
    for rule in result.rules:
        age = "keep" if rule.max_age_days is None else f"{rule.max_age_days} days"
        table.add_row(plain(rule.name), age, f"{rule.events:,}", f"{rule.senders:,}",
                      f"{rule.chats:,}",
                      f"{rule.oldest:%Y-%m-%d %H:%M}" if rule.oldest else "-",
                      f"{rule.newest:%Y-%m-%d %H:%M}" if rule.newest else "-")
    console.print(table)
    console.print(f"would erase the content of {result.events:,} of the {result.with_content:,} "
                  "events that still have content; envelopes, positions and token counts stay",
                  highlight=False)
    if result.erases_everything:
        err_console.print("that is every conversation's content: `retention run` needs --yes",
                          highlight=False)
    return 0


def run_run(args: argparse.Namespace) -> int:
    rules = _load(args.rules)
    app = bootstrap()
    result = run(app.engine, rules, as_of=utc_now(), encoding=app.settings.encoding,
                 reason=args.reason, yes=args.yes)
    if args.json:
        print_json(result.as_dict())
        return 0
    console.print(f"erasure {result.erasure_id}: retention erased the content of "
                  f"{result.contents_erased:,} of {result.events_matched:,} events and "
                  f"{result.summaries_erased:,} summaries derived from them; envelopes, "
                  "positions and token counts stay", highlight=False)
    return 0
