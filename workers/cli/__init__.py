"""The `convlog` command line: `main` parses, dispatches to one verb module, and maps errors."""

from workers.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
