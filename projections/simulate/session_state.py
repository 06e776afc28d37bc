"""What the one-pass tally keeps per session, and per owner within a session.

Memory is bounded by the budget, not the log: a session keeps only the members a
later turn's context can still start at (see `projections.simulate.tally`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime

# A session's member lists are cut in half once the older half can no longer start
# a context; below this length they are left alone (cutting costs more than it saves).
KEEP_AT_LEAST = 256


@dataclass(slots=True)
class Turns:
    """Sums over the window's turns (one column's table rows)."""

    turns: int = 0
    context: int = 0
    cache_read: int = 0
    cross_user: int = 0
    leak: int = 0

    @property
    def cache_write(self) -> int:
        return self.context - self.cache_read


@dataclass(slots=True)
class SessionUse:
    """One session's turns in the window: for the report's per-session costs."""

    turns: int = 0
    context: int = 0
    cache_read: int = 0
    kinds: set[str] = field(default_factory=set)


class Owned:
    """One owner's running token sum in one session: positions and sums, newest last."""

    __slots__ = ("positions", "sums", "total")

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.sums: list[int] = []
        self.total = 0

    def at(self, position: int) -> int:
        """The sum at the owner's last member at or before `position` (0: none kept)."""
        i = bisect_right(self.positions, position)
        return self.sums[i - 1] if i else 0

    def keep_from(self, position: int) -> None:
        """Forget members before `position`, except the last of them (an `at` answer)."""
        i = bisect_left(self.positions, position)
        if i > 1:
            del self.positions[:i - 1]
            del self.sums[:i - 1]


class SessionState:
    """What one session's later turns and the session's figures depend on."""

    __slots__ = (
        "slot", "key", "agent", "running", "kept_running", "zone_running",
        "positions", "runs", "zone_runs", "kept_runs", "owner", "owned", "zone_chats",
        "lead_in", "summary", "previous", "in_window", "size", "crossed_at", "kinds",
        "first_chat", "multi_chat", "last_seen", "pending", "exposed", "disordered", "cut_at")

    def __init__(self, slot: int, key: str, agent: str) -> None:
        self.slot, self.key, self.agent = slot, key, agent
        self.running = 0  # every member of the session
        self.kept_running = 0  # the members the window keeps
        self.zone_running = 0  # the kept members in privacy zones
        # Kept members (a suffix of them: see `_cut`): position, running sums.
        self.positions: list[int] = []
        self.runs: list[int] = []
        self.zone_runs: list[int] = []
        self.kept_runs: list[int] = []
        self.owner: str | None = None
        self.owned: dict[str, Owned] = {}
        self.zone_chats: dict[tuple[str, str | None], Owned] = {}
        self.lead_in: int | None = None
        self.summary: tuple[int, int, int] | None = None  # (covers, position, tokens)
        # The previous turn: (start, summary position, context, occurred_at).
        self.previous: tuple[int, int | None, int, datetime] | None = None
        self.in_window = False
        self.size = 0
        self.crossed_at: datetime | None = None
        self.kinds: set[str] = set()
        self.first_chat: tuple[str, str | None] | None = None
        self.multi_chat = False  # members from more than one (platform, chat)
        # The interrupt timeline, while members arrive in (occurred_at, position) order.
        self.last_seen: tuple[datetime, int] | None = None
        self.pending: set[str | None] = set()
        self.exposed = 0
        self.disordered = False
        self.cut_at = KEEP_AT_LEAST  # the length at which `_cut` is tried next
