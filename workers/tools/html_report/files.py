"""Collecting a comparison's chart series, and writing the page where it is asked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import Connection

from eventlog.errors import ConfigurationError
from projections.simulate import Measured, PolicyMetrics, Prices
from projections.simulate.series import Series, read_series


class Collector:
    """Reads each measured policy's chart series as the comparison hands it over."""

    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        self.series: list[Series] = []

    def __call__(self, conn: Connection, metrics: PolicyMetrics, measured: Measured) -> None:
        self.series.append(read_series(conn, measured, self.prices,
                                       with_sessions=metrics.source != "candidate"))


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
