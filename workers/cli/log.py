"""`convlog init`, `convlog ingest` and `convlog log tail|stats`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO, TextIO

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eventlog.database import get_engine
from eventlog.encoding_names import KNOWN_ENCODINGS
from eventlog.errors import ConfigurationError
from eventlog.events import Rejection
from eventlog.ingest import IngestResult, ingest_stream
from eventlog.settings import Settings
from eventlog.store import stored_as_json
from projections.registry import ensure_default
from workers.bootstrap import bootstrap
from workers.cli.output import (
    console,
    err_console,
    is_terminal,
    non_negative_int,
    plain,
    positive_int,
    print_json,
)
from workers.migrate import upgrade

# Rejections reported one per line on stderr; the rest are counted (all go to --rejects).
REPORTED_REJECTIONS = 100


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = verbs.add_parser("init")
    init.set_defaults(handler=run_init)

    ingest = verbs.add_parser("ingest")
    ingest.add_argument("path", metavar="PATH|-", help="a JSONL file, or - for stdin")
    ingest.add_argument("--rejects", metavar="FILE", type=Path,
                        help="write rejected lines here as they occur (JSONL: line, code, "
                        "reason, raw)")
    ingest.add_argument("--batch-size", type=positive_int, default=None,
                        help="events per append transaction (default: CONVLOG_INGEST_BATCH_SIZE, "
                             "else 5000)")
    ingest.add_argument("--quiet", action="store_true", help="no per-line rejection report")
    ingest.set_defaults(handler=run_ingest)

    log = verbs.add_parser("log")
    log_verbs = log.add_subparsers(dest="log_command", required=True, metavar="tail|stats")
    tail = log_verbs.add_parser("tail", help="the newest events")
    tail.add_argument("-n", type=non_negative_int, default=20, help="how many events")
    tail.add_argument("--json", action="store_true", help="print JSON instead of text")
    tail.add_argument("--encoding", metavar="E", choices=KNOWN_ENCODINGS, default=None,
                      help="token counts in this encoding (default: CONVLOG_ENCODING)")
    tail.set_defaults(handler=run_tail)
    stats = log_verbs.add_parser("stats", help="counts by type and platform, head, tokens")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    stats.add_argument("--encoding", metavar="E", choices=KNOWN_ENCODINGS, default=None,
                       help="tokens in this encoding (default: CONVLOG_ENCODING); what is "
                            "not counted yet is counted first")
    stats.set_defaults(handler=run_stats)


def run_init(args: argparse.Namespace) -> int:
    settings = Settings()
    engine = get_engine(settings)
    before, after = upgrade(engine, lambda conn: ensure_default(conn, settings.encoding))
    if before == after:
        print(f"schema is current (revision {after})")
    else:
        print(f"schema upgraded from {before or 'empty'} to revision {after}")
    return 0


GZIP_MAGIC = b"\x1f\x8b"


def _open_input(path: str, stack: ExitStack) -> tuple[BinaryIO, int | None]:
    if path == "-":
        stream: BinaryIO = sys.stdin.buffer
        size = None
    else:
        file = Path(path)
        if file.is_dir():
            raise ConfigurationError(f"{path} is a directory; give a JSONL file or - for stdin "
                                     "(for a gateway's store: convlog import)",
                                     code="INPUT_NOT_READABLE")
        if not file.is_file():
            raise ConfigurationError(f"no such file: {path}; give a JSONL file or - for stdin",
                                     code="INPUT_NOT_FOUND")
        try:
            stream, size = stack.enter_context(file.open("rb")), file.stat().st_size
        except OSError as error:
            raise ConfigurationError(f"cannot read {path}: {error.strerror}",
                                     code="INPUT_NOT_READABLE") from None
    peek = getattr(stream, "peek", None)
    if peek is not None and peek(2)[:2] == GZIP_MAGIC:
        shown = "the input" if path == "-" else path
        raise ConfigurationError(f"{shown} is gzip-compressed; decompress it on the way in: "
                                 f"gunzip -c {path if path != '-' else 'FILE.gz'} | convlog "
                                 "ingest -", code="INPUT_COMPRESSED")
    return stream, size


def _same_file(stream: BinaryIO, path: Path) -> bool:
    """Whether `path` is the file `stream` reads (a hard link, a symlink, or stdin
    redirected from it count): compared by device and inode, not by name."""
    try:
        ours, theirs = os.fstat(stream.fileno()), os.stat(path)
    except (OSError, ValueError):  # no such path, or a stream without a descriptor
        return False
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def _open_rejects(path: Path | None, stream: BinaryIO, stack: ExitStack) -> TextIO | None:
    """Open --rejects before anything is appended, so a bad path costs nothing; never the
    input itself, which opening for writing would empty before it is read."""
    if path is None:
        return None
    if _same_file(stream, path):
        raise ConfigurationError(f"--rejects {path} is the input file; writing it would erase "
                                 "the input: name another file", code="REJECTS_IS_INPUT")
    try:
        return stack.enter_context(path.open("w", encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(f"cannot write --rejects {path}: {error.strerror}; nothing "
                                 "was appended: give a writable path",
                                 code="REJECTS_NOT_WRITABLE") from None


class RejectionReport:
    """Each rejection as it occurs: a line on stderr (the first ones) and in --rejects."""

    def __init__(self, out: TextIO | None, *, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.count = 0

    def __call__(self, rejection: Rejection) -> None:
        self.count += 1
        if not self.quiet and self.count <= REPORTED_REJECTIONS:
            err_console.print(plain(f"line {rejection.line}: [{rejection.code}] "
                                    f"{rejection.reason}"), soft_wrap=True)
        if self.out is not None:
            try:
                self.out.write(json.dumps(rejection.as_dict(), ensure_ascii=False) + "\n")
                # Flushed line by line: a killed ingest leaves every rejection found so far.
                self.out.flush()
            except OSError as error:
                raise ConfigurationError(
                    f"cannot write --rejects: {error.strerror}; what was appended stays, and "
                    "a rerun with a writable path appends the rest",
                    code="REJECTS_NOT_WRITABLE") from None

    def finish(self) -> None:
        more = self.count - REPORTED_REJECTIONS
        if not self.quiet and more > 0:
            err_console.print(f"... and {more:,} more rejected lines"
                              + ("" if self.out else "; use --rejects FILE to keep them"),
                              highlight=False, markup=False)


def run_ingest(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with ExitStack() as stack:
        stream, size = _open_input(args.path, stack)
        report_rejection = RejectionReport(_open_rejects(args.rejects, stream, stack),
                                           quiet=args.quiet)
        app = bootstrap()
        batch_size = args.batch_size or app.settings.ingest_batch_size
        show_bar = is_terminal() and (size is None or size > 1_000_000)
        progress = Progress(TextColumn("ingest"), BarColumn(), TextColumn("{task.description}"),
                            TimeElapsedColumn(), console=err_console, disable=not show_bar)
        with progress:
            task = progress.add_task("", total=size)

            def report(lines: int, so_far: IngestResult) -> None:
                rate = lines / max(time.perf_counter() - started, 1e-9)
                position = stream.tell() if size is not None else None
                progress.update(task, completed=position,
                                description=f"{lines:,} lines, {rate:,.0f}/s")

            result = ingest_stream(app.store, stream, batch_size=batch_size,
                                   max_text_chars=app.settings.max_text_chars,
                                   on_progress=report, on_rejection=report_rejection)
        report_rejection.finish()
    elapsed = time.perf_counter() - started
    print_json(result.summary())
    handled = result.appended + result.duplicates
    err_console.print(f"{handled:,} events in {elapsed:.2f}s "
                      f"({handled / max(elapsed, 1e-9):,.0f} events/s)", highlight=False)
    return 1 if result.rejected else 0


def run_tail(args: argparse.Namespace) -> int:
    events = bootstrap().store.tail(args.n, encoding=args.encoding)
    if args.json:
        for event in events:
            print_json(stored_as_json(event))
        return 0
    table = Table("pos", "occurred_at", "type", "platform", "chat", "sender", "tokens", "text")
    for event in events:
        # Everything but the position, time and count came from a gateway: inert text.
        text = "[erased]" if event.erased else (event.text or "").replace("\n", " ")
        table.add_row(str(event.position), event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                      plain(event.type), plain(event.address.platform), plain(event.address.chat),
                      plain(event.address.sender), str(event.tokens),
                      plain(text[:60] + ("…" if len(text) > 60 else "")))
    console.print(table)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    stats = bootstrap().store.stats(encoding=args.encoding)
    if args.json:
        print_json(stats)
        return 0
    console.print(f"events: {stats['events']:,}   head position: {stats['head']:,}   "
                  f"tokens: {stats['tokens']:,} ({stats['encoding']})")
    console.print(f"occurred: {stats['first_occurred_at']} … {stats['last_occurred_at']}")
    for title, counts in (("type", stats["by_type"]), ("platform", stats["by_platform"])):
        table = Table(title, "events")
        for name, count in counts.items():
            table.add_row(plain(name), f"{count:,}")
        console.print(table)
    return 0
