"""Search snippets come back as plain text with highlight ranges; cursors are checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from eventlog.address import Address
from eventlog.search_index import SearchError
from projections.searching import START, STOP, Cursor, Hit, split_snippet
from workers.cli.search import highlighted


def test_markers_become_ranges_over_the_plain_text() -> None:
    # Given a headline with two marked matches
    marked = f"the {START}deploy{STOP} broke; {START}deploy{STOP} again"
    # When it is split
    snippet, ranges = split_snippet(marked)
    # Then the text has no markers and the ranges cover the matched words
    assert snippet == "the deploy broke; deploy again"
    assert [snippet[a:b] for a, b in ranges] == ["deploy", "deploy"]


def _hit(snippet: str, ranges: list[tuple[int, int]]) -> Hit:
    return Hit(position=1, type="message.received", occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
               address=Address("main", "discord", "default", None, "1", "channel", None, "111"),
               sender_name="alice", message_id="m1", rank=0.1, snippet=snippet,
               highlights=ranges, session_id=None, session_key=None)


def test_a_snippet_prints_as_inert_text_with_its_match_in_bold() -> None:
    # Given a snippet holding an escape sequence, Rich markup and a bidi override
    snippet = "see \x1b[31mred[/] \u202edeploy here"
    start = snippet.index("deploy")
    shown = highlighted(_hit(snippet, [(start, start + len("deploy"))]))
    # When it is printed to a terminal
    console = Console(record=True, force_terminal=True, width=200)
    console.print(shown)
    out = console.export_text()
    # Then the controls are shown escaped, the markup as written, and nothing else acts
    assert "\\x1b[31mred[/]" in out and "\\u202e" in out
    assert "\x1b" not in out and "\u202e" not in out
    # And only the matched word is bold
    bold = [shown.plain[span.start:span.end] for span in shown.spans if "bold" in str(span.style)]
    assert bold == ["deploy"]


def test_a_cursor_round_trips_and_refuses_another_query() -> None:
    cursor = Cursor(ceiling=900, rank=0.0607927106320858, position=42, fingerprint="abc")
    assert Cursor.decode(cursor.encode(), "abc") == cursor
    with pytest.raises(SearchError) as other:
        Cursor.decode(cursor.encode(), "xyz")
    assert other.value.code == "INVALID_CURSOR"
    with pytest.raises(SearchError) as garbage:
        Cursor.decode("not-a-cursor!", "abc")
    assert garbage.value.code == "INVALID_CURSOR"
