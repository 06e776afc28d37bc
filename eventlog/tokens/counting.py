"""Token counts as a table derived from the log: counted once per (event, encoding).

The append path never counts. `token_counts` holds one row per event position
and encoding, `token_watermarks` the position up to which every event of the
log has its row. Counting is gap-safe: a watermark never passes the log's
horizon (appends are serialized, so every position at or below the highest
committed one is final; see eventlog.schema.log_horizon), and rows are written with
ON CONFLICT DO NOTHING in position order, so two counters that race write each
count once and cannot deadlock on each other's rows.

Erased content counts as what is left of it (an erased text counts 0); a count
taken before the erasure stays, like the envelope and the position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from eventlog.encoding_names import KNOWN_ENCODINGS
from eventlog.schema import log_horizon
from eventlog.tokens.encodings import TokenCounter, check_encoding

# Advisory lock space (two-int form) for counting one encoding: one counter at a
# time writes a range; others wait and find the watermark moved.
TOKENS_LOCK_CLASS = 0x746F6B  # "tok"
PAGE = 10_000  # texts read and counted per round trip

_WATERMARK = text("SELECT counted_upto FROM token_watermarks WHERE encoding = :e")
_MISSING = text("""
    SELECT e.position, coalesce(c.text, '') AS text
      FROM events e LEFT JOIN event_content c ON c.position = e.position
       -- The range bounds the joined tables too: merged in position order, they are
       -- otherwise scanned from the log's start to the page.
       AND c.position > :after AND c.position <= :upto
     WHERE e.position > :after AND e.position <= :upto
       AND NOT EXISTS (SELECT 1 FROM token_counts t
                        WHERE t.encoding = :e AND t.position = e.position
                          AND t.position > :after AND t.position <= :upto)
     ORDER BY e.position
     LIMIT :limit
""")
_WRITE = text("""
    INSERT INTO token_counts (encoding, position, tokens)
    SELECT :e, p, n FROM unnest(CAST(:positions AS bigint[]), CAST(:counts AS integer[]))
           AS r(p, n)
     ORDER BY p
    ON CONFLICT DO NOTHING
""")
_ADVANCE = text("""
    INSERT INTO token_watermarks (encoding, counted_upto) VALUES (:e, :upto)
    ON CONFLICT (encoding) DO UPDATE
       SET counted_upto = excluded.counted_upto, updated_at = now()
     WHERE token_watermarks.counted_upto < excluded.counted_upto
""")


def watermark(conn: Connection, encoding: str) -> int:
    """Every event at or below this position has a count in `encoding`."""
    return int(conn.execute(_WATERMARK, {"e": encoding}).scalar() or 0)


def ensure_counted(conn: Connection, encoding: str, upto: int,
                   counter: TokenCounter | None = None) -> None:
    """Make every visible event at or below `upto` have a count in `encoding`.

    Runs inside the caller's transaction: the counts and the moved watermark
    commit (or roll back) with it. Cheap when the watermark already covers
    `upto` (one primary-key lookup); otherwise it takes the encoding's counting
    lock, so that a second caller waits and then finds the work done, and counts
    what is missing here, in this process. Positions beyond the horizon do not
    exist yet, so the watermark stops at the horizon.
    """
    check_encoding(encoding)
    if upto <= 0 or watermark(conn, encoding) >= upto:
        return
    count_locked(conn, encoding, upto, counter)


def count_locked(conn: Connection, encoding: str, upto: int,
                 counter: TokenCounter | None = None) -> int:
    """Under the encoding's counting lock: count up to min(upto, horizon); rows written."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:cls, hashtext(:e))"),
                 {"cls": TOKENS_LOCK_CLASS, "e": encoding})
    mark = watermark(conn, encoding)  # a new statement: sees what the lock's holder committed
    bound = min(upto, log_horizon(conn))
    if bound <= mark:
        return 0
    written = count_range(conn, encoding, mark, bound, counter or TokenCounter(encoding))
    advance_watermark(conn, encoding, bound)
    return written


def count_range(conn: Connection, encoding: str, after: int, upto: int,
                counter: TokenCounter) -> int:
    """Count and write every event in (after, upto] that has no count yet; rows written."""
    written = 0
    position = after
    while True:
        rows = conn.execute(_MISSING, {"e": encoding, "after": position, "upto": upto,
                                       "limit": PAGE}).all()
        if not rows:
            return written
        written += write_counts(conn, encoding, [row.position for row in rows],
                                counter.count_batch([row.text for row in rows]))
        if len(rows) < PAGE:
            return written
        position = rows[-1].position


def write_counts(conn: Connection, encoding: str, positions: Sequence[int],
                 counts: Sequence[int]) -> int:
    """Insert counts, in position order, each once whoever else writes it; rows new."""
    if not positions:
        return 0
    return int(conn.execute(_WRITE, {"e": encoding, "positions": list(positions),
                                     "counts": list(counts)}).rowcount)


def advance_watermark(conn: Connection, encoding: str, upto: int) -> None:
    """Move the watermark forward to `upto` (never back); the caller proved the range counted."""
    conn.execute(_ADVANCE, {"e": encoding, "upto": upto})


@dataclass(frozen=True, slots=True)
class EncodingStatus:
    """How far counting of one encoding has come."""

    encoding: str
    counted_upto: int
    head: int
    rows: int
    updated_at: datetime | None

    @property
    def behind(self) -> int:
        return max(self.head - self.counted_upto, 0)

    def as_dict(self) -> dict[str, object]:
        return {"encoding": self.encoding, "counted_upto": self.counted_upto,
                "head": self.head, "behind": self.behind, "rows": self.rows,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None}


def counting_status(conn: Connection) -> list[EncodingStatus]:
    """Per encoding (the known ones and any counted before): watermark, head, rows."""
    head = log_horizon(conn)
    marks = {row.encoding: row for row in conn.execute(text(
        "SELECT encoding, counted_upto, updated_at FROM token_watermarks"))}
    rows: dict[str, int] = dict(conn.execute(text(
        "SELECT encoding, count(*) FROM token_counts GROUP BY encoding")).all())
    names = sorted(set(KNOWN_ENCODINGS) | set(marks) | set(rows))
    return [EncodingStatus(name, int(marks[name].counted_upto) if name in marks else 0, head,
                           int(rows.get(name, 0)),
                           marks[name].updated_at if name in marks else None)
            for name in names]
