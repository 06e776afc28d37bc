"""The event stream: seeded activity in the world, delivered in gateway arrival order."""

from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Generic, NamedTuple, TypeVar

from workers.tools.workload.ids import MessageIds
from workers.tools.workload.text import Text
from workers.tools.workload.world import (
    BOTS,
    CHATS,
    GATEWAY_DELAY_MS,
    START_MS,
    USER_RANK,
    Author,
    Chat,
    author_on,
)

# A generated event as JSON-ready fields, before any validation into eventlog.events.Event.
EventDict = dict[str, Any]
T = TypeVar("T")

# The reorder buffer never holds more than this; in practice it holds a few dozen.
_MAX_PENDING = 4096
_RECENT_PER_CHAT = 24
_THREADS_PER_CHAT = 4
_NIGHT_HOURS = frozenset((22, 23, 0, 1, 2, 3, 4, 5, 6))


class _Weighted(Generic[T]):
    """Items picked by precomputed cumulative weights (bisect on one random number)."""

    __slots__ = ("_cum", "_items", "_last", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self._items = tuple(items)
        self._cum = tuple(accumulate(weights))
        self._total = self._cum[-1]
        self._last = len(self._items) - 1

    def pick(self, rnd: Callable[[], float]) -> T:
        return self._items[bisect(self._cum, rnd() * self._total, 0, self._last)]


def _zipf(rank: int, exponent: float = 1.1) -> float:
    return math.pow(rank, -exponent)


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


class _Posted(NamedTuple):
    message_id: str
    topic: str | None
    author: Author
    by_bot: bool
    occurred_ms: int


@dataclass(slots=True)
class _ChatState:
    chat: Chat
    bot: Author
    delay_ms: int
    senders: _Weighted[Author]
    recent: deque[_Posted] = field(default_factory=lambda: deque(maxlen=_RECENT_PER_CHAT))
    threads: deque[str] = field(default_factory=lambda: deque(maxlen=_THREADS_PER_CHAT))


def _state(chat: Chat) -> _ChatState:
    authors = [author_on(handle, chat.platform) for handle in chat.members]
    weights = [_zipf(USER_RANK[author.handle]) for author in authors]
    gateway = (chat.platform, chat.account)
    return _ChatState(chat, BOTS[gateway], GATEWAY_DELAY_MS[gateway], _Weighted(authors, weights))


class _Workload:
    """Bounded state: per-chat rings of recent messages, a reorder buffer, id allocators."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._rnd = self._rng.random
        self._text = Text(self._rnd)
        self._ids = MessageIds(seed)
        states = [_state(chat) for chat in CHATS]
        self._chats = _Weighted(states, [_zipf(rank) for rank in range(1, len(states) + 1)])
        self._clock = START_MS
        self._pending: list[tuple[int, int, EventDict]] = []
        self._sequence = 0
        self._calls = 0

    def events(self, n: int) -> Iterator[EventDict]:
        pending = self._pending
        emitted = 0
        while emitted < n:
            self._step()
            # Every later event happens at or after the clock and arrives strictly after
            # it, so what arrives by now can be released without breaking arrival order.
            while pending and (pending[0][0] <= self._clock or len(pending) > _MAX_PENDING):
                yield heapq.heappop(pending)[2]
                emitted += 1
                if emitted == n:
                    return

    # -- time and delivery ------------------------------------------------

    def _advance(self) -> None:
        roll = self._rnd()
        gap = 200 + int(self._rng.expovariate(1 / 9_000))
        if (self._clock // 3_600_000) % 24 in _NIGHT_HOURS:
            gap *= 8
        if roll < 0.0004:
            gap += int((10 + self._rnd() * 26) * 3_600_000)  # a quiet day or a weekend
        elif roll < 0.004:
            gap += int((1 + self._rnd() * 4) * 3_600_000)  # an idle afternoon
        self._clock += gap

    def _emit(self, state: _ChatState, event: EventDict, occurred_ms: int) -> None:
        # A gateway delivers in its own order after its own delay: arrival order
        # differs from occurred_at across gateways, never within one.
        self._sequence += 1
        heapq.heappush(self._pending, (occurred_ms + state.delay_ms, self._sequence, event))

    def _address(self, state: _ChatState, kind: str, topic: str | None) -> EventDict:
        chat = state.chat
        event: EventDict = {"type": kind, "agent": chat.agent, "platform": chat.platform}
        if chat.account != "default":
            event["account"] = chat.account
        if chat.space is not None:
            event["space"] = chat.space
        event["chat"] = chat.chat
        event["chat_type"] = chat.chat_type
        if topic is not None:
            event["topic"] = topic
        return event

    # -- one step of activity ---------------------------------------------

    def _step(self) -> None:
        self._advance()
        state = self._chats.pick(self._rnd)
        roll = self._rnd()
        if roll < 0.035:
            done = self._edit(state)
        elif roll < 0.05:
            done = self._delete(state)
        elif roll < 0.07:
            done = state.chat.threads and self._new_thread(state)
        elif roll < 0.073:
            done = self._reset(state)
        elif roll < 0.077:
            done = self._conversation(state, self._pick(("/new", "/reset")))
        else:
            done = False
        if not done:
            self._conversation(state, None)

    def _pick(self, items: Sequence[T]) -> T:
        return items[int(self._rnd() * len(items))]

    def _topic(self, state: _ChatState) -> str | None:
        roll = self._rnd()
        if state.chat.topics and roll < 0.6:
            return self._pick(state.chat.topics)
        if state.threads and roll < 0.35:
            return self._pick(state.threads)
        return None

    def _conversation(self, state: _ChatState, command: str | None) -> bool:
        author = state.senders.pick(self._rnd)
        text = command or self._text.user_line()
        asked = self._received(state, self._topic(state), author, text, self._clock)
        if command is not None:
            self._answer(state, asked, "✨ Started a new session.", self._clock + 800)
        elif self._rnd() < state.chat.reply_rate:
            self._agent_turn(state, asked)
        return True

    def _received(
        self, state: _ChatState, topic: str | None, author: Author, text: str, at_ms: int
    ) -> _Posted:
        posted = _Posted(self._ids.new(state.chat, at_ms, self._clock), topic, author, False, at_ms)
        event = self._address(state, "message.received", topic)
        event["sender"] = author.id
        event["sender_name"] = author.name
        event["message_id"] = posted.message_id
        event["occurred_at"] = _iso(at_ms)
        event["text"] = text
        if state.chat.chat_type != "dm" and self._rnd() < state.chat.reply_rate * 0.5:
            event["meta"] = {"mentions": [state.bot.id]}
        self._emit(state, event, at_ms)
        state.recent.append(posted)
        return posted

    def _agent_turn(self, state: _ChatState, asked: _Posted) -> None:
        at_ms = asked.occurred_ms + 600 + int(self._rnd() * 2_400)
        roll = self._rnd()
        calls = 0
        if roll < 0.015:
            calls = 10 + int(self._rnd() * 7)  # seed 000: "10+ tool calls → ~50k tokens"
        elif roll < 0.17:
            calls = 1 + int(self._rnd() * 3)
        for _ in range(calls):
            at_ms = self._tool(state, asked, at_ms, burst=calls >= 10)
        reply = self._answer(state, asked, self._text.agent_answer(), at_ms + 1_500 + int(
            self._rnd() * 10_000))
        if self._rnd() < 0.08:
            self._edit_message(state, reply, reply.occurred_ms + 500 + int(self._rnd() * 2_500))

    def _tool(self, state: _ChatState, asked: _Posted, at_ms: int, burst: bool) -> int:
        large = self._rnd() < (0.7 if burst else 0.12)
        name, text = self._text.tool_call(large)
        self._calls += 1
        event = self._address(state, "tool.used", asked.topic)
        event["reply_to"] = asked.message_id
        event["occurred_at"] = _iso(at_ms)
        event["text"] = text
        event["meta"] = {"tool": name, "call_id": f"call_{self._calls:08x}"}
        self._emit(state, event, at_ms)
        return at_ms + 300 + int(self._rnd() * (8_000 if large else 3_000))

    def _answer(self, state: _ChatState, asked: _Posted, text: str, at_ms: int) -> _Posted:
        bot = state.bot
        posted = _Posted(self._ids.new(state.chat, at_ms, self._clock), asked.topic, bot, True,
                         at_ms)
        event = self._address(state, "message.sent", asked.topic)
        event["sender"] = bot.id
        event["sender_name"] = bot.name
        event["message_id"] = posted.message_id
        event["reply_to"] = asked.message_id
        event["occurred_at"] = _iso(at_ms)
        event["text"] = text
        self._emit(state, event, at_ms)
        state.recent.append(posted)
        return posted

    def _earlier(self, state: _ChatState, by_bot: bool) -> _Posted | None:
        """A recent message that happened a while ago (a reply may still be in the future)."""
        recent = state.recent
        for _ in range(3):
            if not recent:
                return None
            posted = recent[int(self._rnd() * len(recent))]
            if posted.occurred_ms + 5_000 < self._clock and posted.by_bot == by_bot:
                return posted
        return None

    def _edit(self, state: _ChatState) -> bool:
        posted = self._earlier(state, by_bot=False)
        if posted is None:
            return False
        self._edit_message(state, posted, self._clock)
        return True

    def _edit_message(self, state: _ChatState, posted: _Posted, at_ms: int) -> None:
        # Each edit happens at its own step's clock (or once, right after a reply),
        # so two edits of one message never share occurred_at and never share an id.
        event = self._address(state, "message.edited", posted.topic)
        event["sender"] = posted.author.id
        event["sender_name"] = posted.author.name
        event["message_id"] = posted.message_id
        event["occurred_at"] = _iso(at_ms)
        event["text"] = self._text.agent_answer() if posted.by_bot else self._text.edited()
        self._emit(state, event, at_ms)

    def _delete(self, state: _ChatState) -> bool:
        posted = self._earlier(state, by_bot=self._rnd() < 0.1)
        if posted is None:
            return False
        state.recent.remove(posted)
        event = self._address(state, "message.deleted", posted.topic)
        event["sender"] = posted.author.id
        event["sender_name"] = posted.author.name
        event["message_id"] = posted.message_id
        event["occurred_at"] = _iso(self._clock)
        self._emit(state, event, self._clock)
        return True

    def _new_thread(self, state: _ChatState) -> bool:
        parent = self._earlier(state, by_bot=self._rnd() < 0.3)
        if parent is None or parent.topic is not None:
            return False
        state.recent.remove(parent)  # a message starts at most one thread
        if state.chat.platform == "slack":
            topic = parent.message_id  # Slack threads are keyed by the parent's ts
        else:
            topic = self._ids.new(state.chat, self._clock, self._clock)
        author = state.senders.pick(self._rnd)
        event = self._address(state, "thread.created", topic)
        event["sender"] = author.id
        event["sender_name"] = author.name
        event["parent_message_id"] = parent.message_id
        event["occurred_at"] = _iso(self._clock)
        event["meta"] = {"name": self._text.thread_name()}
        self._emit(state, event, self._clock)
        state.threads.append(topic)
        first_at = self._clock + 2_000 + int(self._rnd() * 20_000)
        asked = self._received(state, topic, author, self._text.user_line(), first_at)
        if self._rnd() < state.chat.reply_rate:
            self._agent_turn(state, asked)
        return True

    def _reset(self, state: _ChatState) -> bool:
        author = state.senders.pick(self._rnd)
        event = self._address(state, "session.reset", self._topic(state))
        event["sender"] = author.id
        event["sender_name"] = author.name
        event["occurred_at"] = _iso(self._clock)
        event["meta"] = {"source": self._pick(("slash_command", "button", "api"))}
        self._emit(state, event, self._clock)
        return True


def generate(n: int, seed: int = 0) -> Iterator[EventDict]:
    """Yield exactly `n` JSON-ready events; the same (n, seed) always gives the same events."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    return _Workload(seed).events(n)
