"""A session's members as a context reads them, a page at a time, newest first.

Two reads. `FULL` joins each member to its event (where it was said), its content and
its latest change: what rendering needs, for any count. A process that keeps what it
rendered (`projections.rendered.Kept`) reads less: `LEAN` gives each member's own row
and latest change, which is all a kept item must still match, and `CONTENT` is read
only for the members not kept (on a gateway's turn: the newest one or two). Content
changes only by erasure, and the content generation the context read with its session
says whether one happened since anything was kept.

Rows handed to rendering have one shape (`FULL`'s): position, seq, kind, sender, own
tokens, running tokens, platform, chat, topic, text, sender name, meta, erased, latest
change, its tokens, the edit's text, whether the edit was erased.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, text

from eventlog.database import driver_rows, driver_statement
from projections.rendered import Item, Kept

# Content comes from event_content, where erasure removes it: an erased member is
# left out of every context, --as-of ones included, as a redacted one is.
FULL = text("""
    SELECT m.position, m.seq, m.kind, m.sender, m.tokens AS original_tokens, m.running_tokens,
           e.platform, e.chat, e.topic, ec.text, ec.sender_name, ec.meta,
           ec.erased_by IS NOT NULL AS erased, c.change, c.tokens AS changed_tokens,
           cc.text AS edited_text, cc.erased_by IS NOT NULL AS edit_erased
      FROM session_members m
      JOIN events e ON e.position = m.position
      LEFT JOIN event_content ec ON ec.position = m.position
      LEFT JOIN LATERAL (
            SELECT mc.change, mc.tokens, mc.position FROM member_changes mc
             WHERE mc.projection_id = m.projection_id AND mc.session_id = m.session_id
               AND mc.target_position = m.position AND mc.position <= :as_of
             ORDER BY mc.position DESC LIMIT 1) c ON true
      LEFT JOIN event_content cc ON cc.position = c.position AND c.change = 'edited'
     WHERE m.projection_id = :p AND m.session_id = :s
       AND m.position <= :upper AND m.position > :floor
     ORDER BY m.position DESC
     LIMIT :page
""")
# The same members with their counts in another encoding than the projection's:
# token_counts of the member and of its latest edit replace the projection's own.
FULL_IN = text(str(FULL).replace(
    "m.tokens AS original_tokens", "mt.tokens AS original_tokens").replace(
    "c.tokens AS changed_tokens", "ct.tokens AS changed_tokens").replace(
    "LEFT JOIN event_content cc ON", "LEFT JOIN token_counts mt ON mt.encoding = :encoding "
    "AND mt.position = m.position LEFT JOIN token_counts ct ON ct.encoding = :encoding "
    "AND ct.position = c.position LEFT JOIN event_content cc ON"))
# Members without their content, each with its latest change: the session's changes in
# one range of their key (most sessions have none), not a probe per member.
LEAN = driver_statement(text("""
    WITH changes AS (
        SELECT DISTINCT ON (mc.target_position) mc.target_position, mc.change, mc.tokens,
               mc.position
          FROM member_changes mc
         WHERE mc.projection_id = :p AND mc.session_id = :s AND mc.position <= :as_of
           AND mc.target_position <= :upper AND mc.target_position > :floor
         ORDER BY mc.target_position, mc.position DESC)
    SELECT m.position, m.kind, m.sender, m.tokens, c.change, c.tokens, c.position, m.seq,
           m.running_tokens
      FROM session_members m
      LEFT JOIN changes c ON c.target_position = m.position
     WHERE m.projection_id = :p AND m.session_id = :s
       AND m.position <= :upper AND m.position > :floor
     ORDER BY m.position DESC
     LIMIT :page
"""))
# Where these events were said and what they say now (members' and edits' content).
CONTENT = driver_statement(text("""
    SELECT e.position, e.platform, e.chat, e.topic, c.text, c.sender_name, c.meta,
           c.erased_by IS NOT NULL
      FROM events e LEFT JOIN event_content c ON c.position = e.position
     WHERE e.position = ANY(:positions)
"""))

Render = Callable[[tuple[Any, ...]], "Item | None"]
# A member as a walk takes it: position, seq and running tokens (what is left out when
# the budget stops there), and its rendering (None: nothing to show).
Walked = tuple[int, int, int, "Item | None"]


def kept_row(position: int, kind: str, sender: str | None, tokens: int,
             change: tuple[Any, Any, Any] = (None, None, None)) -> tuple[Any, ...]:
    """What a kept item is kept with, and must still match (`LEAN`'s first seven
    columns): everything its rendering depends on but content, which only erasure
    changes (the content generation)."""
    return (position, kind, sender, tokens, *change)


def full_page(rows: Sequence[Any], render: Render) -> list[Walked]:
    """`FULL` rows as a walk takes them."""
    return [(row[0], row[1], row[5], render(row)) for row in rows]


def kept_page(conn: Connection, params: dict[str, Any], kept: Kept, generation: int,
              render: Render) -> list[Walked]:
    """One page of members, each with its rendering: kept ones as kept, the rest rendered
    from content read now and kept under `generation`."""
    rows = driver_rows(conn, LEAN, params)
    young = kept.young
    page: list[Walked] = []
    missing: list[int] = []
    for n, row in enumerate(rows):
        # Per row, hundreds a context: the kept item when its row reads the same.
        key = row[:7]
        found = young.get(row[0])
        if found is not None and found[0] == key:
            page.append((row[0], row[7], row[8], found[1]))
            continue
        known, item = kept.get(row[0], key)
        page.append((row[0], row[7], row[8], item))
        if not known:
            missing.append(n)
    if missing:
        wanted = [rows[n][0] for n in missing]
        wanted += [rows[n][6] for n in missing if rows[n][4] == "edited"]
        content = {c[0]: c for c in driver_rows(conn, CONTENT, {"positions": wanted})}
        for n in missing:
            (position, kind, sender, tokens, change, changed_tokens, change_position, seq,
             running) = rows[n]
            said = content[position]
            edit = content.get(change_position) if change == "edited" else None
            item = render((position, seq, kind, sender, tokens, running, *said[1:], change,
                           changed_tokens, edit[4] if edit else None,
                           edit[7] if edit else False))
            kept.put(position, rows[n][:7], item, generation)
            page[n] = (position, seq, running, item)
    return page
