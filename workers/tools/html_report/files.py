"""Collecting a comparison's chart series, and writing the page where it is asked."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Connection

from eventlog.errors import ConfigurationError
from projections.simulate import Comparison, Measured, PolicyMetrics, Prices
from projections.simulate.series import Series, read_series
from workers.tools.html_report.columns import Described


class Collector:
    """Reads each measured policy's chart series as the comparison hands it over, and
    what the policy says it does (its description and name), by column name."""

    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        self.series: list[Series] = []
        self.described: dict[str, Described] = {}

    def __call__(self, conn: Connection, metrics: PolicyMetrics, measured: Measured) -> None:
        self.series.append(read_series(conn, measured, self.prices,
                                       with_sessions=metrics.source != "candidate"))
        self.described[metrics.name] = Described(measured.policy.description,
                                                 measured.policy.name)

    def with_files(self, comparison: Comparison, files: Sequence[str]) -> dict[str, Described]:
        """What was described, with each candidate's file: `files` in the order the
        candidates were given (the comparison keeps it)."""
        found = dict(self.described)
        candidates = [c.name for c in comparison.columns if c.source == "candidate"]
        for name, file in zip(candidates, files, strict=False):
            found[name] = replace(found.get(name, Described()), file=file)
        return found


def write_atomically(path: Path, content: str) -> None:
    """Write beside the target and rename: a reader never sees half a report."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} is not a directory; create it or choose "
                                 "another --output", code="OUTPUT_UNWRITABLE")
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=directory,
                                         prefix=f".{path.name}.", delete=False) as handle:
            handle.write(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # a report is for reading: as open() would
        os.replace(handle.name, path)
    except OSError as error:
        raise ConfigurationError(f"cannot write {path} ({error.strerror}); choose another "
                                 "--output", code="OUTPUT_UNWRITABLE") from None
