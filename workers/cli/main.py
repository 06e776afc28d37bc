"""The `convlog` command line: a table of verbs, each registered by one module under
`workers.cli` (`register(subparsers)`, which sets the verb's `handler`).

A command imports only the module of its own verb, so `convlog resolve` does not pay
for the HTTP server, the charts or Parquet; `convlog --help` imports none of them.
`build_parser()` registers every verb (the tests hold its help lines to `VERBS`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from eventlog.errors import ConvlogError
from workers.cli.output import plain

# verb -> (its module under workers.cli, its help line), in the order `--help` lists them.
VERBS: dict[str, tuple[str, str]] = {
    "init": ("log", "create or upgrade the schema (safe to repeat)"),
    "ingest": ("log", "append JSONL events from a file or - (stdin)"),
    "log": ("log", "look at the event log"),
    "generate": ("generate", "write a realistic synthetic workload as JSONL (deterministic by "
                             "seed)"),
    "policy": ("policy", "validate scope policies"),
    "resolve": ("policy", "the session an event would land in, and why"),
    "projection": ("projection", "manage projections (rescoping)"),
    "catch-up": ("catch_up", "project everything appended so far, now"),
    "worker": ("catch_up", "run the projection workers (dramatiq)"),
    "sessions": ("sessions", "list sessions of a projection"),
    "context": ("sessions", "a session's context within a token budget"),
    "erase": ("erase", "remove content (text, names, meta) everywhere a reader can reach it"),
    "demo": ("demo", "a realistic workload under several policies"),
    "serve": ("serve", "run the HTTP API"),
    "token": ("token", "bearer tokens for the HTTP API"),
    "import": ("import_", "a gateway's session store as events, idempotent, with a fidelity "
                          "report"),
    "tokens": ("counts", "token counts per encoding: count the log, status"),
    "search": ("search", "full-text search over messages, naming each hit's session"),
    "retention": ("retention", "retention rules: what they would erase, and erasing it"),
    "simulate": ("simulate", "compare scope policies over the log: sessions, tokens, money"),
    "report": ("report", "the simulate comparison with charts, as one self-contained HTML "
                         "file"),
    "export": ("export", "a projection's messages for analysts and tools (erased content "
                         "never)"),
    "server": ("server", "the embedded PostgreSQL: where its data lives, start, stop"),
}

# Exit codes (docs/exit-codes.md): 0 done, duplicates included; 1 some input
# rejected, every good line kept; 2 usage, configuration or a database error, one
# line; 130 interrupted; EXIT_BUG for anything else, which is a bug.
EXIT_BUG = 70  # EX_SOFTWARE in sysexits.h


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help line ends with its default, where it has one to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        if (default is None or default is False or default is argparse.SUPPRESS
                or default == [] or "default" in help_text or not action.option_strings):
            return help_text
        return f"{help_text} (default: %(default)s)" if help_text else "(default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose help shows defaults; its subcommands' parsers are too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def installed_version() -> str:
    try:
        return version("convlog")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _parser() -> tuple[Parser, Any]:
    parser = Parser(prog="convlog",
                    description="An event-sourced conversation log for chat-agent gateways.")
    parser.add_argument("--version", action="version",
                        version=f"convlog {installed_version()}",
                        help="print the installed version and exit")
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    return parser, verbs


def _modules(names: Sequence[str]) -> list[Any]:
    """The verb modules that register `names`, once each, in `VERBS` order."""
    wanted = {VERBS[name][0] for name in names}
    ordered = dict.fromkeys(module for module, _ in VERBS.values() if module in wanted)
    return [importlib.import_module(f"workers.cli.{module}") for module in ordered]


class _Verbs:
    """The subparsers as a verb module sees them: each verb's help line comes from `VERBS`."""

    def __init__(self, action: Any) -> None:
        self._action = action

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._action.add_parser(
            name, help=VERBS[name][1], **kwargs)
        return parser


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every verb, or of the verbs registered by `only`'s module."""
    parser, verbs = _parser()
    for module in _modules([only] if only is not None else list(VERBS)):
        module.register(_Verbs(verbs))
    return parser


def _listing_parser() -> argparse.ArgumentParser:
    """Top-level help, a bad verb or no verb: every verb by name and help, none imported."""
    parser, verbs = _parser()
    for name, (_, help_text) in VERBS.items():
        verbs.add_parser(name, help=help_text, add_help=False)
    return parser


def _verb_of(argv: Sequence[str]) -> str | None:
    """The verb named on the command line (the first word that is not an option)."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in VERBS else None


def _announce(line: str) -> None:
    print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = _verb_of(argv)
    parser = build_parser(verb) if verb is not None else _listing_parser()
    args = parser.parse_args(argv)
    # Only a verb's own module is imported, and everything of it is by now.
    import os

    from eventlog.embedded_status import announcers
    from workers.cli.environment import unknown_variables
    from workers.process import tune_process

    for line in unknown_variables(os.environ):
        print(line, file=sys.stderr)
    if _announce not in announcers:
        announcers.append(_announce)

    tune_process()
    try:
        status: int = args.handler(args)
    except ConvlogError as error:
        _error_line(error.code, str(error))
        return 2
    except KeyboardInterrupt:
        print("convlog: interrupted; what committed stays, and a retry resumes from there",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:
        reason = _database_error(error)
        if reason is not None:
            _error_line("DATABASE", reason)
            return 2
        traceback.print_exc()
        _error_line("BUG", f"{error.__class__.__name__}: {error}; this is a bug in convlog, "
                    "please report it with the traceback above")
        return EXIT_BUG
    return status


def _database_error(error: Exception) -> str | None:
    """A driver error no edge translated (psycopg's own, e.g. from a COPY), as one line.

    Only a command that imported the driver can raise one, so the check imports
    nothing: it looks for the modules already loaded.
    """
    psycopg = sys.modules.get("psycopg")
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is not None and isinstance(error, exc.DBAPIError):
        driver: BaseException | None = error.orig
    elif psycopg is not None and isinstance(error, psycopg.Error):
        driver = error
    else:
        return None
    reason = str(driver or error)
    if psycopg is not None and isinstance(driver, (psycopg.OperationalError,
                                                   psycopg.InterfaceError)):
        reason += ("; the database is unreachable or the connection was lost; what "
                   "committed stays, and a retry resumes from there")
    return reason


def _error_line(code: str, message: str) -> None:
    """One line, whatever the message holds: a driver's multi-line text, control characters."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"convlog: error [{code}]: {plain(text)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
