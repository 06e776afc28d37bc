"""The `convlog` command line: one module per verb group under `workers.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import InterfaceError, OperationalError

from eventlog.convlog_errors import ConvlogError
from workers.commands import COMMAND_MODULES


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
    try:
        status: int = args.handler(args)
    except ConvlogError as error:
        print(f"convlog: error [{error.code}]: {error}", file=sys.stderr)
        return 2
    except (OperationalError, InterfaceError) as error:
        # The connection failed or was lost where no edge translated it: one line, retryable.
        reason = str(error.orig or error).strip().splitlines()[0]
        print(f"convlog: error [DATABASE]: {reason}; the database is unreachable or the "
              "connection was lost; what committed stays, and a retry resumes from there",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convlog: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
