"""Every metric of one policy, counted in one pass over its members in position order.

A *member* is a message event (`message.received` → kind `user`, `message.sent` →
`assistant`, `tool.used` → `tool`) with its session under the policy and its token
count under the policy's encoding. Members of sessions outside the window's agent,
or written outside its space, are left out of everything but their session's
running sum. A *turn* is a `user` member whose `occurred_at` lies in the window.

A turn's *context* is what the context call would assemble at its position under
the budget `B`:
  - the summary: the newest recorded (not erased) summary of the session before the
    turn (greatest `covers`, then position), with tokens `s`; it is sent when
    `s <= B`, and the messages then get `B' = B - s` (else `B' = B`);
  - the messages: the longest run of the session's members ending at the turn,
    after the summary's `covers`, whose tokens fit `B'`; nothing when the turn's
    own message does not fit. Tokens are as first written (a later edit does not
    change what an earlier turn was sent); a thread's inherited parent context is
    not counted.
Running sums are non-decreasing, so that run starts right after the member `b`
whose running sum is the least one at or above `lower = max(running - B', floor)`
(`floor`: the running sum at the last member the summary covers): a bisection.

Of a turn's context:
  - cache read: the whole context of the session's previous turn (in or out of the
    window), when this one starts at the same member after the same summary and
    no more than the cache TTL passed between the two; the rest is written;
  - cross-user tokens: message tokens owned by someone other than the asker. A
    member's owner is the sender of the latest inbound message of its session at
    or before it; members before the first inbound have none, and the summary is
    nobody's;
  - leaked tokens: message tokens from another (platform, chat) than the turn's
    where that chat or the turn's is a privacy zone of the policy.

Memory is bounded by the budget, not the log: a session keeps only the members a
later turn's context can still start at (running sum within `B` of its newest).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import UTC, date, datetime

from projections.simulate.model import Crossing, Window
from projections.simulate.session_state import KEEP_AT_LEAST, Owned, SessionState, SessionUse, Turns


class Tally:
    """One policy's metrics, fed its members and summaries in position order."""

    def __init__(self, window: Window, budget: int, zones: Iterable[tuple[str, str]],
                 cache_ttl_minutes: float | None, *, series: bool = False,
                 per_session: bool = False) -> None:
        self.window = window
        self.since, self.until = window.since, window.until
        self.budget = budget
        self.zones = frozenset(zones)
        self._zoned = bool(self.zones)  # without zones nothing can leak: no sums kept
        self._filtered = window.agent is not None or window.space is not None
        self.ttl = None if cache_ttl_minutes is None else cache_ttl_minutes * 60.0
        self.sessions: dict[int, SessionState] = {}
        self.totals = Turns()
        self.per_day: dict[date, list[int]] = {}  # day -> [context, cache read]
        self.per_space: dict[str, list[int]] = {}  # space -> [cross-user, context]
        self.series = series  # count what the report's charts need, too
        self.per_session: dict[int, SessionUse] | None = {} if per_session else None
        # Orphans: baseline session -> the measured session its members landed in
        # first, or -1 once they landed in a second one.
        self.landed: dict[int, int] = {}
        self.orphans = 0

    # -- feeding ------------------------------------------------------------------------

    def open(self, slot: int, key: str, agent: str) -> None:
        """A session of the policy; its members follow."""
        self.sessions[slot] = SessionState(slot, key, agent)

    def summary(self, slot: int, position: int, covers: int, tokens: int) -> None:
        """A recorded (not erased) summary that moved its session's summary forward."""
        session = self.sessions.get(slot)
        if session is None:
            return
        candidate = (covers, position, tokens)
        if session.summary is None or candidate[:2] > session.summary[:2]:
            session.summary = candidate

    def member(self, slot: int, position: int, kind: str, sender: str | None, tokens: int,
               at: datetime, platform: str, space: str | None, chat: str | None,
               chat_type: str | None, baseline_slot: int = 0) -> None:
        """One member, in position order; `baseline_slot` is its session in the baseline."""
        s = self.sessions[slot]
        s.running += tokens
        if self._filtered:
            window = self.window
            if window.agent is not None and s.agent != window.agent:
                return
            if window.space is not None and (
                    space is None or f"{platform}:{space}" != window.space):
                return
        running = s.running
        zone = False
        if self._zoned:
            s.kept_running += tokens
            here = (platform, chat)
            zone = here in self.zones
            if zone:
                s.zone_running += tokens
                chat_sums = s.zone_chats.get(here)
                if chat_sums is None:
                    chat_sums = s.zone_chats[here] = Owned()
                chat_sums.total += tokens
                chat_sums.positions.append(position)
                chat_sums.sums.append(chat_sums.total)
            s.zone_runs.append(s.zone_running)
            s.kept_runs.append(s.kept_running)
        s.positions.append(position)
        s.runs.append(running)
        user = kind == "user"
        if user:
            s.owner = sender if sender is not None else ""
            if s.lead_in is None:
                s.lead_in = running - tokens
        if s.owner is not None:
            owned = s.owned.get(s.owner)
            if owned is None:
                owned = s.owned[s.owner] = Owned()
            owned.total += tokens
            owned.positions.append(position)
            owned.sums.append(owned.total)
        since, until = self.since, self.until
        before_end = until is None or at < until
        inside = before_end and (since is None or at >= since)
        # The session's figures.
        if inside:
            s.in_window = True
        if before_end:
            s.size = running
        if s.crossed_at is None and running > self.budget:
            s.crossed_at = at
        if chat_type is not None and chat_type not in s.kinds:
            s.kinds.add(chat_type)
        if not s.multi_chat:
            if s.first_chat is None:
                s.first_chat = (platform, chat)
            elif platform != s.first_chat[0] or chat != s.first_chat[1]:
                s.multi_chat = True
        # Interrupt exposure, while the session's members come in timeline order; a
        # session whose members do not is marked, and recounted by the caller.
        if not s.disordered:
            seen = (at, position)
            if s.last_seen is not None and seen < s.last_seen:
                s.disordered = True
            else:
                s.last_seen = seen
                if kind == "assistant":
                    s.pending.clear()
                elif user:
                    pending = s.pending
                    if pending:
                        if inside and (len(pending) > 1 or sender not in pending):
                            s.exposed += 1
                        if sender not in pending:
                            pending.add(sender)
                    else:
                        pending.add(sender)
        if baseline_slot and inside:
            first = self.landed.get(baseline_slot)
            if first is None:
                self.landed[baseline_slot] = slot
            elif first != slot and first != -1:
                self.landed[baseline_slot] = -1
                self.orphans += 1
        if user:
            self._turn(s, position, sender, at, platform, space, chat, chat_type, zone, inside)
        if len(s.runs) >= s.cut_at:
            self._cut(s)

    def _turn(self, s: SessionState, position: int, sender: str | None, at: datetime,
              platform: str, space: str | None, chat: str | None, chat_type: str | None,
              zone: bool, inside: bool) -> None:
        budget, running = self.budget, s.running
        last = len(s.runs) - 1  # the turn itself
        summary = s.summary
        sent, floor, summary_at = 0, 0, None
        if summary is not None:
            covers, summary_at, summary_tokens = summary
            sent = summary_tokens if summary_tokens <= budget else 0
            if covers >= position:
                floor = running
            else:
                i = bisect_right(s.positions, covers)
                floor = s.runs[i - 1] if i else 0  # none kept: below any `lower`
        lower = max(running - (budget - sent), floor)
        if lower <= 0:
            start, b_at, b_zone, b_kept = 0, None, 0, 0
        else:
            i = bisect_left(s.runs, lower, 0, last)
            start, b_at = s.runs[i], s.positions[i]
            if self._zoned:
                b_zone, b_kept = s.zone_runs[i], s.kept_runs[i]
            else:
                b_zone = b_kept = 0
        window_tokens = running - start
        context = sent + window_tokens
        owned = s.owned[sender if sender is not None else ""]
        own = owned.total
        if sender is not None and b_at is not None:
            own -= owned.at(b_at)
        unowned = max((s.lead_in or 0) - start, 0)
        if zone:
            same = s.zone_chats[(platform, chat)]
            same_chat = same.total - (same.at(b_at) if b_at is not None else 0)
            leak = (s.kept_running - b_kept) - same_chat
        else:
            leak = s.zone_running - b_zone  # 0 without zones
        cache_read = 0
        previous = s.previous
        if (previous is not None and previous[0] == start and previous[1] == summary_at
                and (self.ttl is None or (at - previous[3]).total_seconds() <= self.ttl)):
            cache_read = previous[2]
        s.previous = (start, summary_at, context, at)
        if not inside:
            return
        cross = window_tokens - own - unowned
        t = self.totals
        t.turns += 1
        t.context += context
        t.cache_read += cache_read
        t.cross_user += cross
        t.leak += leak
        if not self.series:
            return
        day = self.per_day.setdefault(at.astimezone(UTC).date(), [0, 0])
        day[0] += context
        day[1] += cache_read
        label = f"{platform}:{space}" if space is not None else f"{platform} (no space)"
        share = self.per_space.setdefault(label, [0, 0])
        share[0] += cross
        share[1] += context
        if self.per_session is not None:
            use = self.per_session.get(s.slot)
            if use is None:
                use = self.per_session[s.slot] = SessionUse()
            use.turns += 1
            use.context += context
            use.cache_read += cache_read
            if chat_type is not None:
                use.kinds.add(chat_type)

    def _cut(self, s: SessionState) -> None:
        """Forget the older half of the kept members once no later context can start
        there: their running sums are below the newest one minus the budget, and a
        turn's `lower` is never below its own running sum minus the budget."""
        half = len(s.runs) // 2
        if s.runs[half] >= s.running - self.budget:
            s.cut_at = len(s.runs) + KEEP_AT_LEAST // 2
            return
        first = s.positions[half]
        del s.positions[:half], s.runs[:half]
        if self._zoned:
            del s.zone_runs[:half], s.kept_runs[:half]
        s.cut_at = KEEP_AT_LEAST
        for owned in s.owned.values():
            owned.keep_from(first)
        for chat_sums in s.zone_chats.values():
            chat_sums.keep_from(first)

    # -- results --------------------------------------------------------------------------

    def disordered(self) -> list[int]:
        """Sessions whose interrupt timeline must be recounted (see `recount`)."""
        return [slot for slot, s in self.sessions.items() if s.disordered]

    def recount(self, slot: int, members: Iterable[tuple[datetime, int, str, str | None]]) -> None:
        """A disordered session's exposure from all its kept members: (occurred_at,
        position, kind, sender), in any order."""
        s = self.sessions[slot]
        s.exposed = 0
        pending: set[str | None] = set()
        for at, _, kind, sender in sorted(members, key=lambda m: (m[0], m[1])):
            if kind == "assistant":
                pending.clear()
            elif kind == "user":
                inside = (self.since is None or at >= self.since) and \
                    (self.until is None or at < self.until)
                if inside and (len(pending) > 1 or (pending and sender not in pending)):
                    s.exposed += 1
                pending.add(sender)

    @property
    def interrupts(self) -> int:
        return sum(s.exposed for s in self.sessions.values())

    def measured(self) -> list[SessionState]:
        """The sessions in the window (one of their kept members in it)."""
        return [s for s in self.sessions.values() if s.in_window]

    def sizes(self) -> list[int]:
        return sorted(s.size for s in self.measured())

    def kinds(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for s in self.measured():
            kind = "mixed" if len(s.kinds) > 1 else next(iter(s.kinds), "none")
            counted[kind] = counted.get(kind, 0) + 1
        return dict(sorted(counted.items()))

    def multi_chat(self) -> int:
        return sum(1 for s in self.measured() if s.multi_chat)

    def crossings(self) -> tuple[Crossing, ...]:
        found = [Crossing(s.key, s.crossed_at, s.size) for s in self.measured()
                 if s.size > self.budget and s.crossed_at is not None]
        return tuple(sorted(found, key=lambda c: (c.crossed_at, c.key)))

    def largest(self, n: int) -> list[tuple[int, str, int]]:
        """(slot, key, size) of the `n` largest sessions in the window."""
        ranked = sorted(self.measured(), key=lambda s: (-s.size, s.key))[:n]
        return [(s.slot, s.key, s.size) for s in ranked]

    def session_label(self, slot: int) -> tuple[str, str]:
        s = self.sessions[slot]
        return s.key, s.agent


def nearest_rank(ordered: list[int], fraction: float) -> int:
    """The smallest value with at least `fraction` of the values at or below it
    (PostgreSQL's percentile_disc); 0 for no values."""
    if not ordered:
        return 0
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]
