"""`convlog tokens count|status`: token counts, counted once per (event, encoding)."""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

from rich.table import Table

from eventlog.tokens import KNOWN_ENCODINGS, CountProgress, counting_status
from workers.bootstrap import bootstrap
from workers.cli.output import console, positive_int, print_json
from workers.cli.progress import count_progress
from workers.counting_pool import count_tokens, encodings_in_use


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = verbs.add_parser("tokens")
    sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="count|status")
    count = sub.add_parser("count", help="count every event not yet counted, up to the head")
    count.add_argument("--encoding", metavar="E", choices=KNOWN_ENCODINGS, action="append",
                       help="an encoding to count (repeatable; default: those the "
                            f"projections use and CONVLOG_ENCODING); one of "
                            f"{', '.join(KNOWN_ENCODINGS)}")
    count.add_argument("--processes", type=positive_int, default=1, metavar="N",
                       help="count in N processes (default 1; docs/token-counts.md says when "
                            "more help)")
    count.add_argument("--batch", type=positive_int, default=20_000, metavar="POSITIONS",
                       help="positions per transaction (and per process's range)")
    count.add_argument("--json", action="store_true", help="print JSON instead of text")
    count.add_argument("--quiet", action="store_true",
                       help="no progress bar on stderr (the final lines are printed)")
    count.set_defaults(handler=run_count)
    status = sub.add_parser("status", help="per encoding: counted up to, the log's head, rows")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(handler=run_status)


def run_count(args: argparse.Namespace) -> int:
    app = bootstrap()
    encodings = args.encoding or encodings_in_use(app.engine, app.settings.encoding)
    report = {}
    bar, advance = count_progress(quiet=args.json or args.quiet)

    def progress(done: CountProgress) -> None:
        advance(done.encoding, done.counted_upto, done.target)

    for encoding in dict.fromkeys(encodings):
        started = time.perf_counter()
        with bar or nullcontext():
            result = count_tokens(app.engine, encoding, processes=args.processes,
                                  batch=args.batch, on_batch=progress)
        seconds = time.perf_counter() - started
        report[encoding] = {"counted": result.rows, "counted_upto": result.counted_upto,
                            "seconds": round(seconds, 3),
                            "events_per_s": round(result.rows / max(seconds, 1e-9))}
    if args.json:
        print_json(report)
        return 0
    for encoding, row in report.items():
        console.print(f"{encoding}: counted {row['counted']:,} events in {row['seconds']}s "
                      f"({row['events_per_s']:,}/s); every event up to position "
                      f"{row['counted_upto']:,} is counted", highlight=False)
    return 0


def run_status(args: argparse.Namespace) -> int:
    app = bootstrap()
    with app.engine.connect() as conn:
        rows = counting_status(conn)
    if args.json:
        print_json([row.as_dict() for row in rows])
        return 0
    table = Table("encoding", "counted up to", "head", "behind", "rows", "updated")
    for row in rows:
        table.add_row(row.encoding, f"{row.counted_upto:,}", f"{row.head:,}",
                      f"{row.behind:,}", f"{row.rows:,}",
                      row.updated_at.strftime("%Y-%m-%d %H:%M:%S") if row.updated_at else "-")
    console.print(table)
    return 0
