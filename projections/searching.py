"""Full-text search over the indexed messages, each hit named with its session in a projection.

Ranking: relevance (`ts_rank`) within windows of the newest matches. Ranking every
match of a common word means reading every matching row (a word in one message in
ten is 100,000 rows at a million events), which no latency goal survives; so a page
ranks the newest `window` matches at or below its ceiling and within `span`
positions of it, best first (the GIN match and the position range combine before
any row is read, so the work is bounded whatever the log's size), and when a window
is used up the next page continues with the next older one. The order is
deterministic (rank, then position, newest first) and a cursor pins the window's
ceiling, so pages neither repeat nor skip a hit while the log grows.

A hit names the session it is in under the projection asked for, found through the
projection's message index (one key probe per hit), so it opens with `convlog context`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from eventlog.address import Address
from eventlog.search_index import SearchError
from projections.registry import ProjectionInfo

DEFAULT_WINDOW = 500
DEFAULT_SPAN = 50_000  # positions a window covers at most
MAX_LIMIT = 500
MAX_QUERY_CHARS = 1_000
# ts_headline marks matches with two private-use characters, removed from texts first;
# hits carry the snippet as plain text and the highlights as character ranges.
START, STOP = "\ue000", "\ue001"
_HEADLINE = ("'StartSel=' || chr(57344) || ', StopSel=' || chr(57345) || ', MaxWords=30, "
             "MinWords=12, MaxFragments=2, FragmentDelimiter=\" … \"'")
_TSQUERY = "websearch_to_tsquery(CAST(:config AS regconfig), :q)"


def parse_address(value: str, option: str, example: str) -> tuple[str, str]:
    """`PLATFORM:ID` (the id may hold colons) as (platform, id)."""
    platform, colon, rest = value.partition(":")
    if not colon or not platform or not rest:
        raise SearchError(f"{option} {value!r} must look like {example}", code="INVALID_FILTER")
    return platform, rest


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which messages a search may return. `agents` None means every agent."""

    agents: Sequence[str] | None = None
    sender: tuple[str, str] | None = None
    chat: tuple[str, str] | None = None
    space: tuple[str, str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    session: uuid.UUID | None = None

    def clauses(self, params: dict[str, Any]) -> str:
        sql = []
        if self.agents is not None:
            sql.append("s.agent = ANY(:agents)")
            params["agents"] = list(self.agents)
        for name, pair in (("sender", self.sender), ("chat", self.chat), ("space", self.space)):
            if pair is not None:
                sql.append(f"s.platform = :{name}_platform AND s.{name} = :{name}_id")
                params[f"{name}_platform"], params[f"{name}_id"] = pair
        if self.since is not None:
            sql.append("s.occurred_at >= :since")
            params["since"] = self.since
        if self.until is not None:
            sql.append("s.occurred_at < :until")
            params["until"] = self.until
        if self.session is not None:
            sql.append("s.position IN (SELECT position FROM session_members WHERE "
                       "projection_id = :p AND session_id = :session UNION ALL "
                       "SELECT position FROM member_changes WHERE projection_id = :p "
                       "AND session_id = :session AND change = 'edited')")
            params["session"] = self.session
        return "".join(f" AND {clause}" for clause in sql)

    def digest(self) -> str:
        return json.dumps([self.agents and sorted(self.agents), self.sender, self.chat,
                           self.space, self.since and self.since.isoformat(),
                           self.until and self.until.isoformat(),
                           self.session and str(self.session)])


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: the window's ceiling and the last hit's rank and position."""

    ceiling: int
    rank: float
    position: int
    fingerprint: str

    def encode(self) -> str:
        raw = json.dumps([self.ceiling, self.rank, self.position, self.fingerprint])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def decode(value: str, fingerprint: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            ceiling, rank, position, seen = json.loads(base64.urlsafe_b64decode(padded))
            cursor = Cursor(int(ceiling), float(rank), int(position), str(seen))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
            raise SearchError("the cursor is not one a search handed out; start again "
                              "without it", code="INVALID_CURSOR") from None
        if cursor.fingerprint != fingerprint:
            raise SearchError("the cursor belongs to another query, filters or projection; "
                              "repeat the search that returned it", code="INVALID_CURSOR")
        return cursor


@dataclass(frozen=True, slots=True)
class Hit:
    position: int
    type: str
    occurred_at: datetime
    address: Address
    sender_name: str | None
    message_id: str | None
    rank: float
    snippet: str
    highlights: list[tuple[int, int]]
    session_id: uuid.UUID | None
    session_key: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "type": self.type,
                "occurred_at": self.occurred_at.isoformat(), **self.address.as_dict(),
                "sender_name": self.sender_name, "message_id": self.message_id,
                "rank": self.rank, "snippet": self.snippet,
                "highlights": [list(pair) for pair in self.highlights],
                "session_id": str(self.session_id) if self.session_id else None,
                "session_key": self.session_key}


@dataclass(frozen=True, slots=True)
class SearchPage:
    projection: str
    query: str
    config: str
    indexed_upto: int
    hits: list[Hit] = field(default_factory=list)
    next_cursor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"projection": self.projection, "query": self.query, "config": self.config,
                "indexed_upto": self.indexed_upto, "hits": [h.as_dict() for h in self.hits],
                "next_cursor": self.next_cursor}


def split_snippet(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """A ts_headline result as plain text and the character ranges it highlighted."""
    plain: list[str] = []
    ranges: list[tuple[int, int]] = []
    length, start = 0, None
    for ch in marked:
        if ch == START:
            start = length
        elif ch == STOP:
            if start is not None and length > start:
                ranges.append((start, length))
            start = None
        else:
            plain.append(ch)
            length += 1
    return "".join(plain), ranges


def window_statement(where: str, keyset: bool) -> str:
    """The SQL of one window: its newest matches, ranked, after a cursor's (rank, position)."""
    after = ("WHERE (r.rank, r.position) < (CAST(:after_rank AS real), :after_position)"
             if keyset else "")
    return f"""
        WITH candidates AS MATERIALIZED (
            SELECT s.position, s.document FROM search_documents s
             WHERE s.document @@ {_TSQUERY} AND s.position <= :ceiling
               AND s.position > :ceiling - :span {where}
             ORDER BY s.position DESC LIMIT :window),
        bounds AS (SELECT count(*) AS n, min(position) AS floor FROM candidates),
        ranked AS (
            SELECT r.position, r.rank FROM (
                SELECT c.position, ts_rank(c.document, {_TSQUERY}) AS rank
                  FROM candidates c) r
            {after}
             ORDER BY r.rank DESC, r.position DESC LIMIT :limit)
        SELECT b.n, b.floor, r.position, r.rank FROM bounds b LEFT JOIN ranked r ON true
         ORDER BY r.rank DESC, r.position DESC"""


def _window(conn: Connection, params: dict[str, Any], where: str, ceiling: int,
            after: tuple[float, int] | None, limit: int, window: int,
            span: int) -> tuple[list[tuple[int, float]], int, int | None]:
    """One window's ranked hits after `after`, the window's size and its lowest position."""
    rows = conn.execute(text(window_statement(where, after is not None)),
                        {**params, "ceiling": ceiling, "window": window, "span": span,
                         "limit": limit,
                         "after_rank": after[0] if after else None,
                         "after_position": after[1] if after else None}).all()
    found = [(int(r.position), float(r.rank)) for r in rows if r.position is not None]
    return found, int(rows[0].n), rows[0].floor


def _details(conn: Connection, info: ProjectionInfo, config: str, query: str,
             ranked: list[tuple[int, float]]) -> list[Hit]:
    """The hits' envelopes, snippets and sessions, in the ranked order."""
    if not ranked:
        return []
    projection_id = info.id
    rows = {r.position: r for r in conn.execute(text(f"""
        SELECT s.position, s.type, s.occurred_at, s.agent, s.platform, s.account, s.space,
               s.chat, s.chat_type, e.topic, s.sender, s.message_id, c.sender_name,
               ts_headline(CAST(:config AS regconfig),
                           translate(c.text, chr(57344) || chr(57345), ''), {_TSQUERY},
                           {_HEADLINE}) AS snippet,
               coalesce(member.session_id, edit.session_id) AS session_id
          FROM search_documents s
          JOIN event_content c ON c.position = s.position
          JOIN events e ON e.position = s.position
          LEFT JOIN message_index mi ON mi.projection_id = :p AND mi.agent = s.agent
           AND mi.platform = s.platform AND mi.account = s.account AND mi.chat = s.chat
           AND mi.message_id = s.message_id
          LEFT JOIN session_members member ON s.type <> 'message.edited'
           AND member.projection_id = :p AND member.session_id = mi.session_id
           AND member.position = s.position
          LEFT JOIN member_changes edit ON s.type = 'message.edited'
           AND edit.projection_id = :p AND edit.session_id = mi.session_id
           AND edit.target_position = mi.position AND edit.position = s.position
         WHERE s.position = ANY(:positions)"""),
        {"p": projection_id, "config": config, "q": query,
         "positions": [position for position, _ in ranked]})}
    sessions: dict[int, uuid.UUID | None] = {}
    for position, row in rows.items():
        found = row.session_id
        if found is None and row.type != "message.edited" and position <= info.checkpoint:
            # The message index names the first message with an id; a later event reusing
            # it (rare) is looked up by position, which scans the projection's members.
            # (An event the projection has not folded yet is in no session: no lookup.)
            found = conn.execute(text(
                "SELECT session_id FROM session_members WHERE projection_id = :p "
                "AND position = :pos"), {"p": projection_id, "pos": position}).scalar()
        sessions[position] = uuid.UUID(str(found)) if found is not None else None
    keys: dict[uuid.UUID, str] = dict(conn.execute(text(
        "SELECT session_id, key FROM sessions WHERE projection_id = :p "
        "AND session_id = ANY(:ids)"),
        {"p": projection_id, "ids": [s for s in sessions.values() if s is not None]}).all())
    hits = []
    for position, rank in ranked:
        if position not in rows:  # erased between ranking and reading: gone, as it should be
            continue
        row = rows[position]
        snippet, highlights = split_snippet(row.snippet or "")
        session_id = sessions[position]
        hits.append(Hit(
            position=position, type=row.type, occurred_at=row.occurred_at,
            address=Address.of(row), sender_name=row.sender_name,
            message_id=row.message_id, rank=rank, snippet=snippet, highlights=highlights,
            session_id=session_id,
            session_key=keys.get(uuid.UUID(str(session_id))) if session_id else None))
    return hits


def search(conn: Connection, info: ProjectionInfo, query: str, wanted: SearchFilter, *,
           config: str, indexed_upto: int, limit: int = 20, cursor: str | None = None,
           window: int = DEFAULT_WINDOW, span: int = DEFAULT_SPAN) -> SearchPage:
    """One page of hits for `query` (websearch_to_tsquery syntax), best first."""
    query = query.strip()
    if not query or len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"the query must be 1 to {MAX_QUERY_CHARS} characters",
                          code="INVALID_QUERY")
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"--limit must be 1 to {MAX_LIMIT}", code="INVALID_QUERY")
    if not conn.execute(text(f"SELECT numnode({_TSQUERY}) > 0"),
                        {"config": config, "q": query}).scalar_one():
        raise SearchError(f"the query {query[:100]!r} has no words to search for (only "
                          "punctuation, operators or stop words)", code="EMPTY_QUERY")
    fingerprint = hashlib.sha256(json.dumps(
        [query, config, info.id, wanted.digest()]).encode()).hexdigest()[:16]
    start = Cursor.decode(cursor, fingerprint) if cursor else None
    params: dict[str, Any] = {"config": config, "q": query, "p": info.id}
    where = wanted.clauses(params)
    ceiling = start.ceiling if start else indexed_upto
    after = (start.rank, start.position) if start else None
    page: list[tuple[int, float, int]] = []  # position, rank, the window's ceiling
    next_cursor = None
    while True:
        found, size, floor = _window(conn, params, where, ceiling, after,
                                     limit + 1 - len(page), window, span)
        page += [(position, rank, ceiling) for position, rank in found]
        if len(page) > limit:
            last = page[limit - 1]
            next_cursor = Cursor(last[2], last[1], last[0], fingerprint).encode()
            page = page[:limit]
            break
        if size >= window and floor is not None:
            ceiling = int(floor) - 1  # the window was full: older matches start below it
        elif ceiling - span <= 0:
            break  # the window reached position 1: no older match
        elif size:
            ceiling -= span  # the window reached its span: the next span down
        else:
            # An empty span (a rare word): jump to the newest older match, if any.
            # `+ 0` keeps the planner off a backward primary-key scan, which reads
            # every older row when nothing matches (615 ms at 1M events for a word,
            # a sender and a time range with no hit); the GIN and filter indexes
            # answer it from the matches alone.
            newest = conn.execute(text(
                f"SELECT max(s.position + 0) FROM search_documents s WHERE s.document @@ "
                f"{_TSQUERY} AND s.position <= :ceiling {where}"),
                {**params, "ceiling": ceiling - span}).scalar()
            if newest is None:
                break
            ceiling = int(newest)
        after = None
    hits = _details(conn, info, config, query, [(p, r) for p, r, _ in page])
    return SearchPage(info.name, query, config, indexed_upto, hits, next_cursor)
