"""The simulation's metrics computed directly in Python, the slow and obvious way.

Reads one projection's members (session, position, kind, sender, tokens), the
events' times and chats, and its summaries; running sums are recomputed here,
never read. Each function follows the definition in the docstrings of
`projections.simulate.turns` and `projections.simulate.metrics`, walking the
history as the context call does (newest first while the budget lasts).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text


@dataclass
class Member:
    session: Any
    position: int
    kind: str
    sender: str | None
    tokens: int
    at: datetime
    platform: str
    chat: str
    chat_type: str | None
    key: str
    running: int = 0
    owner: str | None = None


@dataclass
class Turn:
    member: Member
    context: int
    start: int
    summary_at: int | None
    cross_user: int
    leak: int
    cache_read: int = 0


def load(conn: Connection, projection_id: int, upto: int,
         agent: str | None = None) -> dict[Any, list[Member]]:
    rows = conn.execute(text(
        "SELECT m.session_id, m.position, m.kind, m.sender, m.tokens, e.occurred_at, "
        "e.platform, e.chat, e.chat_type, s.key, s.agent FROM session_members m "
        "JOIN events e ON e.position = m.position JOIN sessions s ON s.projection_id = "
        "m.projection_id AND s.session_id = m.session_id "
        "WHERE m.projection_id = :p AND m.position <= :upto ORDER BY m.position"),
        {"p": projection_id, "upto": upto}).all()
    sessions: dict[Any, list[Member]] = defaultdict(list)
    for r in rows:
        if agent is not None and r.agent != agent:
            continue
        sessions[r.session_id].append(Member(r.session_id, r.position, r.kind, r.sender,
                                             r.tokens, r.occurred_at, r.platform, r.chat,
                                             r.chat_type, r.key))
    for members in sessions.values():
        running, owner = 0, None
        for m in members:
            running += m.tokens
            m.running = running
            if m.kind == "user":
                owner = m.sender
            m.owner = owner
    return sessions


def summaries(conn: Connection, projection_id: int) -> dict[Any, list[tuple[int, int, int]]]:
    found: dict[Any, list[tuple[int, int, int]]] = defaultdict(list)
    for r in conn.execute(text(
            "SELECT s.session_id, s.position, s.covers_position, s.tokens "
            "FROM session_summaries s JOIN event_content c ON c.position = s.position "
            "WHERE s.projection_id = :p AND c.erased_by IS NULL"), {"p": projection_id}):
        found[r.session_id].append((r.position, r.covers_position, r.tokens))
    return found


def in_window(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


def turns(sessions: dict[Any, list[Member]], recorded: dict[Any, list[tuple[int, int, int]]],
          budget: int, zones: set[tuple[str, str]], ttl_seconds: float | None) -> list[Turn]:
    found: list[Turn] = []
    for session, members in sessions.items():
        previous: Turn | None = None
        for index, u in enumerate(members):
            if u.kind != "user":
                continue
            candidates = [s for s in recorded.get(session, []) if s[0] <= u.position]
            summary = max(candidates, key=lambda s: (s[1], s[0])) if candidates else None
            sent = summary[2] if summary and summary[2] <= budget else 0
            covers = summary[1] if summary else None
            remaining = budget - sent
            window: list[Member] = []
            for m in reversed(members[:index + 1]):
                if covers is not None and m.position <= covers:
                    break
                if m.tokens > remaining:
                    break
                remaining -= m.tokens
                window.append(m)
            before = members[:index + 1]
            start = (sum(m.tokens for m in before) - sum(m.tokens for m in window))
            cross = sum(m.tokens for m in window if m.owner is not None and m.owner != u.sender)
            u_zone = (u.platform, u.chat) in zones
            leak = sum(m.tokens for m in window if (m.platform, m.chat) != (u.platform, u.chat)
                       and (u_zone or (m.platform, m.chat) in zones))
            turn = Turn(u, sent + sum(m.tokens for m in window), start,
                        summary[0] if summary else None, cross, leak)
            if (previous is not None and previous.start == turn.start
                    and previous.summary_at == turn.summary_at
                    and (ttl_seconds is None
                         or (u.at - previous.member.at).total_seconds() <= ttl_seconds)):
                turn.cache_read = previous.context
            found.append(turn)
            previous = turn
    return found


def interrupts(sessions: dict[Any, list[Member]], since: datetime | None,
               until: datetime | None) -> int:
    count = 0
    for members in sessions.values():
        pending: list[str | None] = []
        for m in sorted(members, key=lambda m: (m.at, m.position)):
            if m.kind == "assistant":
                pending = []
            elif m.kind == "user":
                if any(s != m.sender for s in pending) and in_window(m.at, since, until):
                    count += 1
                pending.append(m.sender)
    return count


def sizes(sessions: dict[Any, list[Member]], budget: int, since: datetime | None,
          until: datetime | None) -> dict[str, Any]:
    sized: list[int] = []
    kinds: defaultdict[str, int] = defaultdict(int)
    multi, crossings = 0, []
    for members in sessions.values():
        if not any(in_window(m.at, since, until) for m in members):
            continue
        before = [m for m in members if until is None or m.at < until]
        size = before[-1].running if before else 0
        sized.append(size)
        types = {m.chat_type for m in members}
        kinds["mixed" if len(types) > 1 else (types.pop() or "none")] += 1
        multi += len({(m.platform, m.chat) for m in members}) > 1
        if size > budget:
            crossings.append(next(m.at for m in members if m.running > budget))
    sized.sort()

    def rank(f: float) -> int:
        return sized[max(0, math.ceil(len(sized) * f) - 1)] if sized else 0

    return {"sessions": len(sized), "by_kind": dict(kinds), "multi": multi, "p50": rank(0.5),
            "p95": rank(0.95), "max": sized[-1] if sized else 0, "over": len(crossings),
            "first_crossing": min(crossings) if crossings else None}


def orphans(baseline: dict[Any, list[Member]], candidate: dict[Any, list[Member]],
            since: datetime | None, until: datetime | None) -> int:
    where = {m.position: session for session, ms in candidate.items() for m in ms}
    count = 0
    for members in baseline.values():
        landed = {where[m.position] for m in members
                  if m.position in where and in_window(m.at, since, until)}
        count += len(landed) > 1
    return count
