"""CSV and Parquet at the speed of PostgreSQL's own COPY.

The rows leave the server as `COPY (SELECT ...) TO STDOUT` in CSV. The CSV export
writes that stream as it comes; the Parquet export parses it with Arrow's
streaming CSV reader (C++, block by block) and writes row groups, so neither
builds a Python object per value and memory stays bounded by a block and a row
group, whatever the log's size. Times leave the server in UTC; NULL (erased content) stays NULL.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Engine

from projections.transcript import COLUMNS, copy_statement

Progress = Callable[[int], None]
ROW_GROUP = 64_000  # rows; a group is also closed at ROW_GROUP_BYTES
ROW_GROUP_BYTES = 32 * 2**20
BLOCK = 2 * 2**20  # bytes of CSV Arrow parses at a time

_TIME = pa.timestamp("us", tz="UTC")
TYPES: dict[str, pa.DataType] = {
    name: {"epoch": pa.int32(), "seq": pa.int32(), "position": pa.int64(),
           "tokens": pa.int32(), "occurred_at": _TIME, "recorded_at": _TIME}.get(name, pa.string())
    for name in COLUMNS
}
SCHEMA = pa.schema(list(TYPES.items()))


@contextmanager
def copy_out(engine: Engine, projection: str, *, header: bool) -> Iterator[Iterator[bytes]]:
    """The projection's rows as CSV chunks, on a connection of the engine's own pool."""
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            raise TypeError("exports need the psycopg driver (postgresql+psycopg://)")
        with driver.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # until this transaction ends
            with cursor.copy(copy_statement(projection, header=header)) as copy:
                yield (bytes(chunk) for chunk in copy)
        conn.rollback()


class _Chunks(io.RawIOBase):
    """Chunks of bytes as a readable file, for Arrow's reader; counts the lines it hands on."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.pending = chunk
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def write_csv(engine: Engine, projection: str, handle: IO[bytes], progress: Progress) -> int:
    """The rows as CSV with a header, exactly as COPY writes them; the bytes written."""
    written = 0
    with copy_out(engine, projection, header=True) as chunks:
        for chunk in chunks:
            handle.write(chunk)
            progress(chunk.count(b"\n"))  # lines, for the bar: a text may hold newlines
            written += len(chunk)
    return written


def write_parquet(engine: Engine, projection: str, path: Path, progress: Progress) -> int:
    """The rows as Parquet (zstd), in row groups; the number of rows."""
    read = pacsv.ReadOptions(column_names=list(COLUMNS), block_size=BLOCK)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    # COPY writes NULL unquoted and an empty text as "": only the first is null.
    convert = pacsv.ConvertOptions(column_types=TYPES, strings_can_be_null=True,
                                   quoted_strings_can_be_null=False)
    total = 0
    pending: list[pa.RecordBatch] = []
    with copy_out(engine, projection, header=False) as chunks, \
            pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        reader = pacsv.open_csv(io.BufferedReader(_Chunks(chunks), BLOCK), read_options=read,
                                parse_options=parse, convert_options=convert)

        def flush() -> None:
            writer.write_table(pa.Table.from_batches(pending, schema=SCHEMA),
                               row_group_size=ROW_GROUP)
            pending.clear()

        for batch in reader:
            pending.append(batch)
            total += batch.num_rows
            progress(batch.num_rows)
            if (sum(b.num_rows for b in pending) >= ROW_GROUP
                    or sum(b.nbytes for b in pending) >= ROW_GROUP_BYTES):
                flush()
        if pending or total == 0:
            flush()
    return total

