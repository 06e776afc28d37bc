"""`convlog policy check` and `convlog resolve`: validate a scope policy, explain a resolution."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eventlog.errors import ConvlogError
from eventlog.events import Event, Rejection, parse_event
from projections.errors import Diagnostic, PolicyError
from projections.gateways.picoclaw.keys import hashed_scope
from projections.policy import (
    Policy,
    check_policy,
    errors_of,
    load_policy,
    read_policy_file,
)
from projections.resolver import Resolution, resolve
from workers.cli.convert import add_convert
from workers.cli.legacy_key import add_key_option, resolve_key_command

# Fields an event must carry that never change where it lands; `resolve` fills them in.
_PROBE_TIME = "1970-01-01T00:00:00Z"
_PROBE_MESSAGE_ID = "resolve-probe"
_TYPES_WITH_TEXT = ("message.received", "message.sent", "message.edited", "tool.used")


def register(verbs: Any) -> None:
    policy = verbs.add_parser("policy")
    actions = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate a policy file: errors and warnings")
    check.add_argument("file", metavar="FILE",
                       help="the policy JSON file, or example:NAME for a shipped example")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=check_command)
    examples = actions.add_parser(
        "examples", help="the example policies that ship with convlog; use one anywhere a "
                         "policy file goes as example:NAME")
    examples.add_argument("--json", action="store_true", help="machine-readable output")
    examples.set_defaults(handler=examples_command)
    add_convert(actions)

    resolve_verb = verbs.add_parser(
        "resolve",
        description="EVENT_JSON is a JSON object, a path to a .json file, or '-' for stdin. "
                    "With --policy the answer is computed without a database.")
    resolve_verb.add_argument("event", metavar="EVENT_JSON", nargs="?",
                              help="the event: a JSON object, a .json file, or - for stdin")
    add_key_option(resolve_verb)
    source = resolve_verb.add_mutually_exclusive_group()
    source.add_argument("--policy", metavar="FILE",
                        help="resolve under this policy file (or example:NAME)")
    source.add_argument("--projection", metavar="NAME",
                        help="resolve in this projection's state (default: the active one)")
    resolve_verb.add_argument("--json", action="store_true", help="machine-readable output")
    resolve_verb.set_defaults(handler=resolve_command)


# ------------------------------------------------------------------ policy examples


def examples_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    from projections.policy.examples import PREFIX, example_summaries, examples_dir
    from workers.cli.output import console, print_json

    summaries = example_summaries()
    if args.json:
        print_json([{"name": name, "use": f"{PREFIX}{name}", "description": description}
                    for name, description in summaries])
        return 0
    table = Table("use as", "what it does", box=None)
    for name, description in summaries:
        table.add_row(f"{PREFIX}{name}", description)
    console.print(table)
    console.print(f"(the files: {examples_dir()}; e.g. `convlog resolve EVENT --policy "
                  f"{PREFIX}guild-wide`)", highlight=False)
    return 0


# ------------------------------------------------------------------ policy check


def check_command(args: argparse.Namespace) -> int:
    try:
        data = read_policy_file(args.file)
    except PolicyError as error:
        diagnostics = list(error.diagnostics)
    else:
        diagnostics = check_policy(data)
    errors = errors_of(diagnostics)
    fingerprint = None if errors else Policy.model_validate(data).grouping_fingerprint()
    if args.json:
        print(json.dumps({
            "file": args.file, "valid": not errors, "errors": len(errors),
            "warnings": len(diagnostics) - len(errors), "grouping_fingerprint": fingerprint,
            "diagnostics": [d.as_dict() for d in diagnostics],
        }, indent=2, ensure_ascii=False))
    else:
        _print_check(args.file, diagnostics, fingerprint)
    return 1 if errors else 0


def _print_check(file: str, diagnostics: list[Diagnostic], fingerprint: str | None) -> None:
    for diagnostic in diagnostics:
        print(f"{file}: {diagnostic.severity} {diagnostic.code} at {diagnostic.path}")
        print(f"    {diagnostic.message}")
    errors = len(errors_of(diagnostics))
    warnings = len(diagnostics) - errors
    if errors:
        print(f"{file}: invalid: {_count(errors, 'error')}, {_count(warnings, 'warning')}")
    else:
        print(f"{file}: ok ({_count(warnings, 'warning')}; grouping {str(fingerprint)[:12]})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# ----------------------------------------------------------------------- resolve


def resolve_command(args: argparse.Namespace) -> int:
    if args.key is not None or args.event is None:
        return resolve_key_command(args)
    if args.policy is None:
        return _resolve_in_projection(args)
    policy = load_policy(args.policy)
    event = read_event(args.event)
    resolution = resolve(event, policy)
    if args.json:
        answer = {"policy": policy.name, "policy_file": args.policy,
                  "grouping_fingerprint": policy.grouping_fingerprint(),
                  **resolution.as_dict()}
        opaque = resolution.legacy.get("picoclaw")
        if opaque is not None:  # what PicoClaw hashed into its key, beside the key
            answer["picoclaw_scope"] = hashed_scope(opaque)
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print(describe_resolution(resolution))
    return 0


def _resolve_in_projection(args: argparse.Namespace) -> int:
    # The database's modules, only when a projection is asked (`--policy` needs none).
    from projections.queries import resolve_in_projection
    from projections.registry import get
    from workers.bootstrap import bootstrap

    app = bootstrap()
    event = read_event(args.event)
    with app.engine.connect() as conn:
        placed = resolve_in_projection(conn, get(conn, args.projection), event)
    if args.json:
        print(json.dumps(placed.as_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"projection {placed.projection}\nsession {placed.session_id} (epoch {placed.epoch})\n"
          f"key {placed.resolution.key}")
    for name, key in placed.resolution.legacy.items():
        print(f"legacy {name}: {key}")
    for reason in placed.reasons:
        print(f"  because {reason}")
    return 0


def read_event(source: str) -> Event:
    """An event from a JSON string, a .json file path, or '-' (stdin); fills probe defaults."""
    text = sys.stdin.read() if source == "-" else _event_text(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConvlogError(f"the event is not valid JSON ({error.msg} at column {error.colno}); "
                           "pass a JSON object, a .json file or '-' for stdin",
                           code="INVALID_EVENT") from None
    if isinstance(data, dict):
        data = {**_probe_defaults(data), **data}
    parsed = parse_event(data)
    if isinstance(parsed, Rejection):
        raise ConvlogError(f"the event is invalid: {parsed.reason}", code="INVALID_EVENT")
    return parsed


def _event_text(source: str) -> str:
    stripped = source.lstrip()
    if stripped.startswith(("{", "[")):
        return source
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConvlogError(f"{source!r} is neither a JSON object nor an existing file; pass "
                           "the event as JSON, a .json file path or '-'",
                           code="INVALID_EVENT") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConvlogError(f"cannot read {source} ({error})", code="INVALID_EVENT") from None


def _probe_defaults(data: dict[str, Any]) -> dict[str, Any]:
    event_type = data.get("type", "message.received")
    defaults: dict[str, Any] = {"type": event_type, "occurred_at": _PROBE_TIME}
    if isinstance(event_type, str) and event_type.startswith("message."):
        defaults["message_id"] = _PROBE_MESSAGE_ID
    if event_type in _TYPES_WITH_TEXT:
        defaults["text"] = ""
    return defaults


def describe_resolution(resolution: Resolution) -> str:
    lines = [
        f"key         {resolution.key}",
        f"session_id  {resolution.session_id}",
        f"epoch       {resolution.epoch}",
    ]
    if resolution.is_thread:
        lines.append(f"thread of   {resolution.parent_key}")
    if resolution.reset_trigger:
        lines.append("reset       yes: the text is a reset trigger")
    for runtime, key in sorted(resolution.legacy.items()):
        lines.append(f"legacy      {runtime}: {key}")
    lines.append("why")
    lines.extend(f"  - {reason}" for reason in resolution.reasons)
    return "\n".join(lines)
