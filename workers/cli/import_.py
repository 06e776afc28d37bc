"""`convlog import openclaw|hermes|picoclaw|tinyclaw PATH`: a gateway's store as events."""

from __future__ import annotations

import argparse
import json
import zoneinfo
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from eventlog.errors import ConfigurationError, ConvlogError
from projections.gateways.converters import CONVERTERS
from projections.policy import load_policy
from workers.bootstrap import bootstrap
from workers.cli.convert import hermes_extras, read_config
from workers.cli.output import err_console, is_terminal
from workers.gateways.hermes import importer as hermes
from workers.gateways.importing import ImportJob, run
from workers.gateways.openclaw import importer as openclaw
from workers.gateways.picoclaw import importer as picoclaw
from workers.gateways.records import StoreRead
from workers.gateways.tinyclaw import importer as tinyclaw

# (store path, agent, zone of naive times, follow_links=) -> what the store held
READERS: dict[str, Callable[..., StoreRead]] = {
    "openclaw": openclaw.read_store, "hermes": hermes.read_store,
    "picoclaw": picoclaw.read_store, "tinyclaw": tinyclaw.read_store,
}
# The round trip's grouping per gateway: what `policy convert --from` makes of its config.
POLICIES = CONVERTERS


def register(verbs: Any) -> None:
    verb = verbs.add_parser(
        "import",
        description="Reads the store without changing it (SQLite is opened read-only) and "
                    "appends its history; a second run appends nothing new. The report "
                    "counts what was read, imported and skipped, what could not be recovered, "
                    "and whether the gateway's sessions come back under its own grouping.")
    verb.add_argument("gateway", choices=sorted(READERS), help="whose store PATH is")
    verb.add_argument("path", metavar="PATH", help="the state dir (~/.openclaw, ~/.hermes, "
                      "~/.picoclaw/workspace, ~/.tinyclaw) or a sessions folder inside it")
    verb.add_argument("--agent", metavar="ID", help="OpenClaw, TinyClaw: import only this agent; "
                      "Hermes and PicoClaw: the convlog agent id to use (default: main)")
    verb.add_argument("--config", metavar="CONFIG", help="the gateway's config, for the round "
                      "trip check under its own grouping (default: the gateway's defaults)")
    verb.add_argument("--timezone", metavar="TZ", help="the zone of times stored without one "
                      "(IANA name; default: this machine's)")
    verb.add_argument("--dry-run", action="store_true", help="read and report; append nothing")
    verb.add_argument("--follow-links", action="store_true",
                      help="also read files that links or absolute paths in the store lead "
                           "to outside it (refused and reported without this)")
    verb.add_argument("--claude-projects", metavar="DIR", help="TinyClaw: also read its agents' "
                      "Claude Code transcripts (tool use included) under DIR "
                      "(~/.claude/projects)")
    verb.add_argument("--json", action="store_true", help="the report as JSON")
    verb.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.exists():
        raise ConfigurationError(f"no store at {path}; check PATH", code="STORE_NOT_FOUND")
    zone, zone_name = _zone(args.timezone)
    policy = _gateway_policy(args.gateway, args.config)
    extra: dict[str, Any] = {}
    if args.claude_projects is not None:
        if args.gateway != "tinyclaw":
            raise ConvlogError("--claude-projects is for tinyclaw; the other gateways "
                               "keep their transcripts in their store", code="USAGE")
        extra["claude_projects"] = Path(args.claude_projects).expanduser()
    read = READERS[args.gateway](path, args.agent, zone, follow_links=args.follow_links,
                                 **extra)
    store = None if args.dry_run else bootstrap().store
    progress, on_session = _progress(args.gateway)
    with progress or nullcontext():
        report = run(ImportJob(read, policy, zone_name, store), on_session)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print("\n".join(report.lines()))
    if not report.sessions_read and not report.problems:
        err_console.print(f"convlog import: found no {args.gateway} session in {path}; nothing "
                          "was imported (point PATH at the gateway's state dir)",
                          highlight=False)
        return 1
    # Anything the store held that could not be read or appended is a partial import.
    return 1 if report.rejected or report.problems or not report.sessions_read else 0


def _zone(name: str | None) -> tuple[tzinfo, str]:
    if name:
        try:
            return zoneinfo.ZoneInfo(name), name
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"{name!r} is not a known IANA time zone; write one like "
                                     "'Europe/Berlin' or 'UTC'", code="UNKNOWN_TIMEZONE") from None
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local, f"this machine's zone ({datetime.now().astimezone().tzname()})"


def _gateway_policy(gateway: str, config: str | None) -> Any:
    data: Any = {}
    extras: dict[str, Any] = {}
    if config is not None:
        data = read_config(Path(config), gateway)
        extras = hermes_extras(Path(config)) if gateway == "hermes" else {}
    conversion = POLICIES[gateway](data, **extras)
    return load_policy(conversion.policy)


def _progress(gateway: str) -> tuple[Progress | None, Callable[[int, int], None] | None]:
    if not is_terminal():
        return None, None
    progress = Progress(TextColumn(f"import {gateway}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("sessions"), console=err_console, transient=True)
    task = progress.add_task("", total=None)

    def on_session(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, on_session


assert set(READERS) == set(POLICIES)
