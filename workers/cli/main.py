"""The `convlog` command line: one module per verb group under `workers.cli`, each with
`register(subparsers)`, which sets the verb's `handler`."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

import psycopg
from sqlalchemy.exc import DBAPIError

from eventlog.convlog_errors import ConvlogError
from workers.cli import (
    catch_up,
    counts,
    demo,
    erase,
    export,
    generate,
    import_,
    log,
    policy,
    projection,
    report,
    retention,
    search,
    serve,
    sessions,
    simulate,
    token,
)
from workers.cli.output import plain
from workers.process import tune_process

COMMAND_MODULES = (log, generate, policy, projection, catch_up, sessions, erase, demo,
                   serve, token, import_, counts, search, retention, simulate, report,
                   export)

# Exit codes (the README's "Exit codes"): 0 done, duplicates included; 1 some input
# rejected, every good line kept; 2 usage, configuration or a database error, one
# line; 130 interrupted; EXIT_BUG for anything else, which is a bug.
EXIT_BUG = 70  # EX_SOFTWARE in sysexits.h
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convlog",
        description="An event-sourced conversation log for chat-agent gateways.",
    )
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_process()  # everything is imported by now
    try:
        status: int = args.handler(args)
    except ConvlogError as error:
        _error_line(error.code, str(error))
        return 2
    except (DBAPIError, psycopg.Error) as error:
        # A driver error no edge translated (psycopg's own, e.g. from a COPY): one line.
        driver = error.orig if isinstance(error, DBAPIError) else error
        reason = str(driver or error)
        if isinstance(driver, CONNECTION_ERRORS):
            reason += ("; the database is unreachable or the connection was lost; what "
                       "committed stays, and a retry resumes from there")
        _error_line("DATABASE", reason)
        return 2
    except KeyboardInterrupt:
        print("convlog: interrupted; what committed stays, and a retry resumes from there",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:
        traceback.print_exc()
        _error_line("BUG", f"{error.__class__.__name__}: {error}; this is a bug in convlog, "
                    "please report it with the traceback above")
        return EXIT_BUG
    return status


def _error_line(code: str, message: str) -> None:
    """One line, whatever the message holds: a driver's multi-line text, control characters."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"convlog: error [{code}]: {plain(text)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
