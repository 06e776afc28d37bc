"""`convlog generate N [--seed S] [--output FILE]`: a synthetic workload as JSONL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workers.tools.workload import write_jsonl


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    generate = verbs.add_parser(
        "generate",
        description="Discord guilds, Telegram forums, Slack workspaces, WhatsApp groups and "
                    "DMs; agent replies, tool calls, edits, deletes, resets and threads.",
    )
    generate.add_argument("n", metavar="N", type=_positive_int, help="how many events")
    generate.add_argument("--seed", type=int, default=0, help="the same seed gives the same events")
    generate.add_argument("--output", "-o", metavar="FILE", type=Path,
                          help="write here instead of stdout")
    generate.set_defaults(handler=run_generate)


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"N must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"N must be at least 1, got {value}")
    return value


def run_generate(args: argparse.Namespace) -> int:
    if args.output is None:
        write_jsonl(args.n, args.seed, sys.stdout)
        sys.stdout.flush()
        return 0
    with args.output.open("w", encoding="utf-8", newline="\n") as stream:
        write_jsonl(args.n, args.seed, stream)
    return 0
