"""Where a standby must have replayed to: WAL positions as PostgreSQL reports them."""

from __future__ import annotations

from eventlog.replica import lsn_text, record_end

PAGE, SEGMENT = 8192, 16 * 2**20


def test_an_insert_position_past_a_page_header_means_the_page_start() -> None:
    # A record that ended exactly at a page's end leaves the insert position past the
    # next page's header (24 bytes; 40 on a segment's first page), where the standby's
    # replay position never points: the page's start is what it reaches.
    assert record_end(5 * PAGE + 24, PAGE, SEGMENT) == 5 * PAGE
    assert record_end(3 * SEGMENT + 40, PAGE, SEGMENT) == 3 * SEGMENT
    assert record_end(3 * SEGMENT + PAGE + 24, PAGE, SEGMENT) == 3 * SEGMENT + PAGE


def test_any_other_position_is_kept() -> None:
    for position in (0, 5 * PAGE, 5 * PAGE + 32, 5 * PAGE + 8000, 2 * SEGMENT):
        assert record_end(position, PAGE, SEGMENT) == position


def test_positions_print_as_postgresql_shows_them() -> None:
    assert lsn_text(0x3BF1810) == "0/3BF1810"
    assert lsn_text((0x1A << 32) + 0xFF) == "1A/FF"
