"""`convlog export`: a projection's messages as Parquet, CSV, JSON lines, chat JSON or Markdown."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from eventlog.errors import ConfigurationError
from eventlog.replica import reads_for
from projections.transcript import resolve_projection, stream
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, is_terminal, plain
from workers.tools.exports.conversations import write_markdown, write_openai
from workers.tools.exports.copying import write_csv, write_parquet
from workers.tools.exports.tabular import write_jsonl

FORMATS = ("parquet", "csv", "jsonl", "openai", "markdown")


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = verbs.add_parser("export")
    export.add_argument("--projection", metavar="NAME", help="default: the active one")
    export.add_argument("--format", required=True, choices=FORMATS,
                        help="parquet, csv, jsonl: one row per message; openai: one line of "
                             "chat messages per session; markdown: one transcript file per "
                             "session (PATH is a directory)")
    export.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="the file to write (written whole, then moved into place)")
    export.set_defaults(handler=run_export)


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr at a terminal; silent elsewhere."""
    if not is_terminal():
        yield lambda _n: None
        return
    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` that becomes `path` only when the export completes."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} is not a directory; create it or choose "
                                 "another --output", code="OUTPUT_UNWRITABLE")
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        umask = os.umask(0)
        os.umask(umask)
        partial.chmod(0o666 & ~umask)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def run_export(args: argparse.Namespace) -> int:
    app = bootstrap()
    path = Path(args.output)
    # The standby once it has replayed every commit made before the export starts: an
    # export's files outlive it, so content erased before it must not be in them.
    source = reads_for(app.settings, app.engine).current()
    with source.connect() as conn:
        projection, total = resolve_projection(conn, args.projection)
    try:
        with progress_bar(total, f"exporting {projection}") as advance:
            if args.format == "markdown":
                if path.exists() and not path.is_dir():
                    raise ConfigurationError(f"{path} is a file; markdown writes one file per "
                                             "session into a directory", code="OUTPUT_UNWRITABLE")
                count = write_markdown(stream(source, projection), path, advance)
                unit = "sessions"
            else:
                with replacing(path) as partial:
                    count, unit = total, "messages"
                    if args.format == "parquet":
                        count = write_parquet(source, projection, partial, advance)
                    elif args.format == "csv":
                        with partial.open("wb") as raw:
                            write_csv(source, projection, raw, advance)
                    else:
                        with partial.open("w", encoding="utf-8") as handle:
                            if args.format == "jsonl":
                                count = write_jsonl(stream(source, projection), handle,
                                                    advance)
                            else:
                                count = write_openai(stream(source, projection), handle,
                                                     advance)
                                unit = "sessions"
    except OSError as error:
        raise ConfigurationError(f"cannot write {path} ({error.strerror}); choose another "
                                 "--output", code="OUTPUT_UNWRITABLE") from None
    console.print(plain(f"exported {count:,} {unit} of {projection} to {path} ({args.format})"))
    return 0
