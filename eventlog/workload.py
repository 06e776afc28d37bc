"""A realistic synthetic workload of gateway events: seeded, streaming, in bounded memory."""

from __future__ import annotations

import calendar
import heapq
import json
import math
import random
import string
import time
from bisect import bisect
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from typing import Any, Generic, NamedTuple, TextIO, TypeVar

__all__ = ["START", "generate", "write_jsonl"]

Event = dict[str, Any]
T = TypeVar("T")

START = "2026-01-05T09:00:00Z"
_START_MS = calendar.timegm((2026, 1, 5, 9, 0, 0, 0, 0, 0)) * 1000
_DISCORD_EPOCH_MS = 1_420_070_400_000

# The reorder buffer never holds more than this; in practice it holds a few dozen.
_MAX_PENDING = 4096
_RECENT_PER_CHAT = 24
_THREADS_PER_CHAT = 4
_NIGHT_HOURS = frozenset((22, 23, 0, 1, 2, 3, 4, 5, 6))

# ---------------------------------------------------------------------------
# The world: users, bots, chats. Fixed; the seed only drives the activity.
# ---------------------------------------------------------------------------

# handle, display name, discord id, telegram id, slack id, whatsapp number ("" = not there)
_PEOPLE = (
    ("alice", "Alice Martin", "208461749125791745", "31415926", "U024BE7LH", "4915123456701"),
    ("bob", "Bob Nakamura", "208461749125791746", "27182818", "U024BE7LJ", "14155550102"),
    ("carol", "Carol Diaz", "311928374650192837", "16180339", "U03HX2K9P", ""),
    ("dave", "Dave O'Brien", "402938475610293847", "14142135", "", "447700900104"),
    ("erin", "Erin Kowalski", "519283746501928374", "", "U04M7QZ2A", "4915123456705"),
    ("frank", "Frank Müller", "620394857162039485", "17320508", "U04M7QZ2B", "4915123456706"),
    ("grace", "Grace Hopper", "731928374650192838", "22360679", "U05B1N3CD", ""),
    ("heidi", "Heidi Laine", "842039485716203948", "", "U05B1N3CE", "358401234508"),
    ("ivan", "Ivan Petrov", "953847561029384756", "26457513", "", "79161234509"),
    ("judy", "Judy Chen", "164029384756102938", "31622776", "U06CHEN10", ""),
    ("mallory", "Mallory Quinn", "275938475610293847", "33166247", "", "14155550111"),
    ("niaj", "Niaj Rahman", "386049586721304958", "", "U06RAHM12", "8801712345612"),
    ("olivia", "Olivia Rossi", "497150697832415069", "36055512", "U07ROSS13", "393471234513"),
    ("peggy", "Peggy Sue", "508261708943526170", "", "", "14155550114"),
    ("rupert", "Rupert Gray", "619372819054637281", "38729833", "U07GRAY15", ""),
    ("sybil", "Sybil Vane", "720483920165748392", "41231056", "", "447700900116"),
)
_PLATFORM_COLUMN = {"discord": 2, "telegram": 3, "slack": 4, "whatsapp": 5}


@dataclass(frozen=True, slots=True)
class _Author:
    handle: str
    id: str
    name: str


def _author(handle: str, platform: str) -> _Author:
    row = next(row for row in _PEOPLE if row[0] == handle)
    display = row[1]
    name = handle if platform == "discord" else display
    return _Author(handle, row[_PLATFORM_COLUMN[platform]], name)


def _on(platform: str) -> tuple[str, ...]:
    return tuple(row[0] for row in _PEOPLE if row[_PLATFORM_COLUMN[platform]])


# (platform, account) -> the bot's user id and name; also the gateway's delivery delay (ms).
_BOTS = {
    ("discord", "default"): _Author("convbot", "1187654321098765432", "convbot"),
    ("telegram", "default"): _Author("convbot", "7012345678", "ConvBot"),
    ("telegram", "support_bot"): _Author("supportbot", "7098765432", "Support Bot"),
    ("slack", "default"): _Author("convbot", "U07CONVBOT", "convbot"),
    ("whatsapp", "default"): _Author("convbot", "4915199990000", "ConvBot"),
}
_GATEWAY_DELAY_MS = {
    ("discord", "default"): 150,
    ("telegram", "default"): 900,
    ("telegram", "support_bot"): 1_400,
    ("slack", "default"): 2_500,
    ("whatsapp", "default"): 6_000,
}


@dataclass(frozen=True, slots=True)
class _Chat:
    """One bot's view of one chat: the address its events carry."""

    platform: str
    chat: str
    chat_type: str
    name: str
    members: tuple[str, ...]
    agent: str = "main"
    account: str = "default"
    space: str | None = None
    topics: tuple[str, ...] = ()
    threads: bool = False
    reply_rate: float = 0.5
    first_message_id: int = 1


def _channel(chat: str, name: str, **options: Any) -> _Chat:
    options.setdefault("members", _on("discord"))
    options.setdefault("space", "1234567890")
    return _Chat("discord", chat, "channel", name, threads=True, **options)


def _dm(platform: str, handle: str, chat: str | None = None) -> _Chat:
    peer = _author(handle, platform)
    chat_id = chat or (f"{peer.id}@s.whatsapp.net" if platform == "whatsapp" else peer.id)
    return _Chat(platform, chat_id, "dm", f"dm:{handle}", (handle,), reply_rate=0.97)


_TG_FORUM = "-1001234567890"
_SLACK = "T024BE7LD"
_SLACK_OPS = "T07OPS1234"

# Ordered by activity: the Zipf rank of a chat is its place in this list.
_CHATS: tuple[_Chat, ...] = (
    _channel("1000000001", "general", reply_rate=0.45),
    _Chat("telegram", _TG_FORUM, "group", "Convlog Community", _on("telegram"),
          topics=("652", "29"), reply_rate=0.5, first_message_id=41_000),
    _Chat("slack", "C024BE91L", "channel", "general", _on("slack"), space=_SLACK,
          threads=True, reply_rate=0.4),
    _dm("discord", "alice", "1200000000000000101"),
    _channel("1000000002", "requests", reply_rate=0.85),
    _Chat("whatsapp", "120363041234567890@g.us", "group", "Weekend Hackers", _on("whatsapp"),
          reply_rate=0.4),
    _dm("telegram", "alice"),
    _channel("1000000004", "code-review", reply_rate=0.6),
    _Chat("slack", "C03QA7M2K1P", "channel", "deploys", _on("slack")[:6], space=_SLACK,
          threads=True, reply_rate=0.5),
    _Chat("telegram", _TG_FORUM, "group", "Convlog Community", _on("telegram"),
          agent="support", account="support_bot", topics=("29",), reply_rate=0.8,
          first_message_id=41_000),
    _channel("1000000003", "logs", reply_rate=0.1),
    _dm("slack", "bob", "D024BE91M"),
    _channel("1000000005", "devops", members=_on("discord")[:8], reply_rate=0.55),
    _Chat("slack", "C05HELP0001", "channel", "help", _on("slack"), agent="support",
          space=_SLACK, threads=True, reply_rate=0.9),
    _dm("discord", "bob", "1200000000000000102"),
    _Chat("telegram", "-1009876543210", "group", "Ops Alerts", _on("telegram")[:7],
          reply_rate=0.3, first_message_id=88_000),
    _dm("whatsapp", "frank"),
    _Chat("discord", "2000000001", "channel", "general", _on("discord")[6:],
          space="876543210987654321", threads=True, reply_rate=0.5),
    _dm("telegram", "carol"),
    _Chat("whatsapp", "120363099887766554@g.us", "group", "Customer Support",
          _on("whatsapp"), agent="support", reply_rate=0.9),
    _dm("slack", "erin", "D04M7QZ2C"),
    _channel("1000000009", "mod-private", members=("alice", "bob", "grace"), reply_rate=0.6),
    _Chat("discord", "2000000002", "channel", "support", _on("discord")[6:],
          agent="support", space="876543210987654321", threads=True, reply_rate=0.9),
    _dm("discord", "dave", "1200000000000000104"),
    _dm("telegram", "ivan"),
    _Chat("slack", "C07OPSALRT", "channel", "alerts", _on("slack")[2:], space=_SLACK_OPS,
          reply_rate=0.3),
    _dm("whatsapp", "olivia"),
    _dm("discord", "grace", "1200000000000000107"),
    _dm("telegram", "judy"),
    _dm("slack", "heidi", "D05B1N3CF"),
    _dm("whatsapp", "peggy"),
)

# Users ordered by activity (Zipf rank): the order of _PEOPLE.
_USER_RANK = {row[0]: rank for rank, row in enumerate(_PEOPLE, start=1)}


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


# ---------------------------------------------------------------------------
# Text: a small dev-chat vocabulary, rendered from templates.
# ---------------------------------------------------------------------------

_SLOTS: dict[str, tuple[str, ...]] = {
    "svc": ("api", "gateway", "worker", "billing", "auth", "scheduler", "ingest", "search",
            "webhooks", "frontend", "projector", "notifier"),
    "env": ("staging", "prod", "dev", "the preview env", "canary", "eu-west", "us-east"),
    "job": ("lint", "unit-tests", "integration", "build", "deploy", "e2e", "docker-build",
            "release", "migrations", "nightly"),
    "thing": ("the CI pipeline", "the migration", "the nightly build", "the release branch",
              "the docker image", "the rate limiter", "the flaky test", "the cache layer",
              "the new dashboard", "the on-call rotation", "the session store",
              "the webhook retries", "the Postgres upgrade", "the token budget"),
    "file": ("src/gateway/session.py", "src/routing/session-key.ts", ".github/workflows/ci.yml",
             "docker-compose.yml", "alembic/env.py", "config.json", "Makefile",
             "pyproject.toml", "src/lib/db.ts", "README.md", "gateway/run.py",
             "src/queue-processor.ts", "deploy/values.yaml"),
    "err": ("ECONNRESET", "TimeoutError", "a 502 from the load balancer", "OOMKilled",
            "KeyError: 'session_id'", "permission denied (publickey)", "exit code 137",
            "a flaky assertion", "context length exceeded", "429 Too Many Requests",
            "deadlock detected", "SSL: CERTIFICATE_VERIFY_FAILED"),
    "num": ("12", "42", "57", "101", "128", "233", "404", "512", "814", "1024", "2048",
            "19929", "20078", "144", "7"),
    "who": ("@alice", "@bob", "@carol", "@dave", "@erin", "@frank", "@grace", "@judy"),
    "when": ("5 minutes ago", "an hour ago", "today", "yesterday", "this morning",
             "last night", "since Friday", "after the last deploy"),
    "tool": ("pytest", "ruff", "mypy", "docker compose", "terraform", "kubectl", "psql",
             "git bisect", "alembic", "pnpm", "gh"),
    "pct": ("3%", "12%", "40%", "85%", "99.9%", "2x", "10x"),
}

_SHORT = (
    "lgtm", "thanks!", "ok, on it", "anyone around?", "+1", "nice 🎉", "brb", "same here",
    "can you rerun the {job} job?", "what's the status of {thing}?", "{thing} is failing again",
    "deploying {svc} to {env} now", "{svc} is down on {env}", "who owns {file}?",
    "PR #{num} is ready for review", "seeing {err} on {env}", "did anyone touch {file} {when}?",
    "{who} can you take a look?", "merged, thanks {who}", "rolling back {svc}",
    "is {env} frozen today?", "the {job} job is stuck", "how do I run {tool} locally?",
    "can you summarize what changed in {thing}?", "{tool} says {err}", "ping {who}",
    "{svc} latency is up {pct} {when}", "can you open an issue for {thing}?",
    "does {thing} block the release?", "where are the logs for {svc}?", "wfm", "on it 👍",
    "can you help me set up {thing}?", "why is {job} red?", "I'll pair with {who} on {thing}",
    "fixed in #{num}", "reverting #{num}", "what does {err} mean here?", "{svc} is back up",
)
_SENTENCES = (
    "I think the problem is in {file}, the retry loop never backs off.",
    "The {job} job started failing {when} with {err}.",
    "We should probably split {thing} into smaller steps before the release.",
    "I tried running {tool} locally and it passes, so it might be an environment thing.",
    "{svc} on {env} has been flapping {when}, the health check times out.",
    "Can we agree to freeze {env} until {thing} is sorted out?",
    "The numbers look better: p99 is down {pct} since the change.",
    "I left a few comments on PR #{num}, mostly naming and one missing test.",
    "Honestly the simplest fix is to pin the version in {file} for now.",
    "If nobody objects I'll merge it after lunch.",
    "The last three runs of {job} were green, so maybe it was a flake.",
    "We need a migration for this, otherwise {svc} will read stale rows.",
    "Let's keep the old behaviour behind a flag until {thing} has settled.",
    "I'm not sure {who} knows about this yet.",
    "It only happens when two users message the bot at the same time.",
    "The session for that channel is already over 200k tokens, which explains the slowness.",
    "Context from #general doesn't show up when I ask in #requests.",
    "Can we get {svc} metrics into the dashboard too?",
)
_BOT_OPENERS = (
    "Sure!", "Got it.", "Here's what I found:", "Done.", "Good question.", "I checked:",
    "Short answer: yes.", "Short answer: not yet.", "Looking at the history,", "On it.",
)
_BOT_SENTENCES = (
    "The {job} job failed on step 3 with {err}; the previous run was green.",
    "I'd start with {file}: the timeout there is lower than what {svc} needs on {env}.",
    "{thing} is about {pct} done; the remaining work is the rollout to {env}.",
    "I opened #{num} with the fix and asked {who} for review.",
    "You can run `{tool}` locally with the same settings as CI.",
    "Restarting {svc} cleared the error, but I'd keep an eye on it.",
    "The change in #{num} touched {file}, which would explain {err}.",
    "I'll summarize the thread so far and post it in the channel.",
    "Nothing changed in {svc} since {when}, so this looks like an infrastructure issue.",
    "Here is the relevant part of the log; the first error is the one that matters.",
    "I can set up {thing} for you: it needs a workflow file, a token and one approval.",
    "Tests pass on my side; the failure only reproduces on {env}.",
)
_CODE = (
    "```python\nsession = store.get(key)\nif session is None:\n"
    "    session = store.create(key)\n```",
    "```yaml\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - uses: actions/checkout@v4\n      - run: make test\n```",
    "```\n$ {tool} --version\n{tool} 1.{num}.0\n```",
    "```sql\nselect chat, count(*) from events group by chat order by 2 desc limit 10;\n```",
)
_THREAD_NAMES = (
    "CI pipeline setup", "flaky {job} job", "{svc} on {env}", "release planning",
    "PR #{num} review", "{err} investigation", "incident {when}", "{thing}",
)
_EDIT_SUFFIXES = ("", " (edit: typo)", " — nvm, found it", " *fixed link", " edit: on {env}")

_Template = tuple[str, tuple[str, ...]]


def _compile(template: str) -> _Template:
    kinds = tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)
    fmt = template.replace("{", "{{").replace("}", "}}")
    for kind in _SLOTS:
        fmt = fmt.replace("{{" + kind + "}}", "{}")
    return fmt, kinds


def _compile_all(templates: Sequence[str]) -> tuple[_Template, ...]:
    return tuple(_compile(template) for template in templates)


class _Text:
    """Renders chat lines, agent answers and tool output from the vocabulary."""

    def __init__(self, rnd: Callable[[], float]) -> None:
        self._rnd = rnd
        self._short = _compile_all(_SHORT)
        self._sentences = _compile_all(_SENTENCES)
        self._openers = _BOT_OPENERS
        self._bot = _compile_all(_BOT_SENTENCES)
        self._code = _compile_all(_CODE)
        self._thread_names = _compile_all(_THREAD_NAMES)
        self._suffixes = _compile_all(_EDIT_SUFFIXES)

    def _pick(self, items: Sequence[T]) -> T:
        return items[int(self._rnd() * len(items))]

    def _fill(self, templates: Sequence[_Template]) -> str:
        fmt, kinds = self._pick(templates)
        if not kinds:
            return fmt.format()
        return fmt.format(*[self._pick(_SLOTS[kind]) for kind in kinds])

    def _sentences_of(self, templates: Sequence[_Template], count: int) -> str:
        return " ".join(self._fill(templates) for _ in range(count))

    def user_line(self) -> str:
        roll = self._rnd()
        if roll < 0.72:
            return self._fill(self._short)
        if roll < 0.92:
            more = self._sentences_of(self._sentences, 2 if roll > 0.85 else 1)
            return self._fill(self._short) + " " + more
        if roll < 0.985:
            return self._sentences_of(self._sentences, 4 + int(self._rnd() * 7))
        return self._sentences_of(self._sentences, 2) + "\n" + self._fill(self._code)

    def edited(self, line: str | None = None) -> str:
        return (line or self._fill(self._short)) + self._fill(self._suffixes)

    def agent_answer(self) -> str:
        roll = self._rnd()
        count = 1 + int(self._rnd() * 4) if roll < 0.95 else 8 + int(self._rnd() * 12)
        answer = self._pick(self._openers) + " " + self._sentences_of(self._bot, count)
        if self._rnd() < 0.2:
            answer += "\n" + self._fill(self._code)
        return answer

    def thread_name(self) -> str:
        return self._fill(self._thread_names)

    def tool_call(self, large: bool) -> tuple[str, str]:
        name, header, pool = self._pick(_tools())
        size = 6_000 + int(self._rnd() * 12_000) if large else 80 + int(self._rnd() * 1_400)
        start = int(self._rnd() * (len(pool) - size))
        start = pool.find("\n", start) + 1
        fmt, kinds = header
        call = fmt.format(*[self._pick(_SLOTS[kind]) for kind in kinds])
        return name, call + "\n" + pool[start:start + size]


@cache
def _tools() -> tuple[tuple[str, _Template, str], ...]:
    """Tool names, call lines and an output corpus each, built once from a fixed seed."""
    rng = random.Random(20260105)
    return (
        ("bash", _compile("$ {tool} logs {svc} --since 1h"), _log_corpus(rng)),
        ("run_tests", _compile("$ pytest -q tests/ -k {svc}"), _test_corpus(rng)),
        ("read_file", _compile("read {file}"), _code_corpus(rng)),
        ("grep", _compile("$ grep -rn '{svc}' src/"), _grep_corpus(rng)),
    )


_CORPUS_CHARS = 120_000


def _corpus(rng: random.Random, line: Callable[[random.Random, int], str]) -> str:
    lines: list[str] = []
    size = 0
    while size < _CORPUS_CHARS:
        text = line(rng, len(lines))
        lines.append(text)
        size += len(text) + 1
    return "\n".join(lines)


def _log_corpus(rng: random.Random) -> str:
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    events = ("processed batch {} in {}ms", "GET /v1/sessions/{} 200 {}ms",
              "retrying webhook delivery attempt {} after {}ms",
              "checkpoint at position {} lag {}ms", "connection pool size={} waiting={}",
              "token budget {} of {} used")

    def line(rng: random.Random, index: int) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(_START_MS // 1000 + index * 7))
        svc = rng.choice(_SLOTS["svc"])
        message = rng.choice(events).format(rng.randrange(1, 99_999), rng.randrange(1, 2_000))
        return f"{stamp}Z {rng.choice(levels):5} {svc}[{rng.randrange(1, 9)}] {message}"

    return _corpus(rng, line)


def _test_corpus(rng: random.Random) -> str:
    def line(rng: random.Random, index: int) -> str:
        module = rng.choice(_SLOTS["svc"])
        outcome = "FAILED" if rng.random() < 0.04 else "PASSED"
        return f"tests/unit/test_{module}.py::test_case_{index} {outcome} [{index % 100:3d}%]"

    return _corpus(rng, line)


def _code_corpus(rng: random.Random) -> str:
    shapes = ("def {}(self, key: str) -> Session | None:", "    return self._{}.get(key)",
              "    if {} is None:", "        raise LookupError({!r})", "class {}(Protocol):",
              "    # keep the checkpoint in the same transaction as {}", "", "import {}")

    def line(rng: random.Random, index: int) -> str:
        name = rng.choice(_SLOTS["svc"]) + "_" + rng.choice(("store", "key", "batch", "state"))
        return f"{index + 1:5d}  " + rng.choice(shapes).format(name)

    return _corpus(rng, line)


def _grep_corpus(rng: random.Random) -> str:
    sentences = _compile_all(_SENTENCES)

    def line(rng: random.Random, index: int) -> str:
        fmt, kinds = rng.choice(sentences)
        text = fmt.format(*[rng.choice(_SLOTS[kind]) for kind in kinds])
        return f"{rng.choice(_SLOTS['file'])}:{rng.randrange(1, 900)}:    # {text}"

    return _corpus(rng, line)


# ---------------------------------------------------------------------------
# Platform-style message ids.
# ---------------------------------------------------------------------------


class _Stamps:
    """Unique integers near a time-derived base, for ids of events made out of time order.

    Every event is created at or after the generator's clock, so values below the
    clock's own base can never be asked for again and are dropped: the set stays small.
    """

    __slots__ = ("_used",)

    def __init__(self) -> None:
        self._used: set[int] = set()

    def take(self, base: int, floor: int) -> int:
        used = self._used
        while base in used:
            base += 1
        used.add(base)
        if len(used) > 2048:
            self._used = {value for value in used if value >= floor}
        return base


class _Ids:
    """Message ids in each platform's own style, unique per platform."""

    def __init__(self) -> None:
        self._discord = _Stamps()
        self._slack = _Stamps()
        self._counters: dict[str, int] = {}
        self._whatsapp = 0

    def new(self, chat: _Chat, occurred_ms: int, clock_ms: int) -> str:
        platform = chat.platform
        if platform == "discord":
            return str(self._discord.take(_snowflake(occurred_ms), _snowflake(clock_ms)))
        if platform == "slack":
            micros = self._slack.take(occurred_ms * 1000, clock_ms * 1000)
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
        if platform == "telegram":
            number = self._counters.get(chat.chat, chat.first_message_id)
            self._counters[chat.chat] = number + 1
            return str(number)
        self._whatsapp += 1
        return f"3EB0{(self._whatsapp * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF:016X}"


def _snowflake(ms: int) -> int:
    return (ms - _DISCORD_EPOCH_MS) << 22


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


# ---------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------


class _Posted(NamedTuple):
    message_id: str
    topic: str | None
    author: _Author
    by_bot: bool
    occurred_ms: int


@dataclass(slots=True)
class _ChatState:
    chat: _Chat
    bot: _Author
    delay_ms: int
    senders: _Weighted[_Author]
    recent: deque[_Posted] = field(default_factory=lambda: deque(maxlen=_RECENT_PER_CHAT))
    threads: deque[str] = field(default_factory=lambda: deque(maxlen=_THREADS_PER_CHAT))


def _state(chat: _Chat) -> _ChatState:
    authors = [_author(handle, chat.platform) for handle in chat.members]
    weights = [_zipf(_USER_RANK[author.handle]) for author in authors]
    gateway = (chat.platform, chat.account)
    return _ChatState(chat, _BOTS[gateway], _GATEWAY_DELAY_MS[gateway], _Weighted(authors, weights))


class _Workload:
    """Bounded state: per-chat rings of recent messages, a reorder buffer, id allocators."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._rnd = self._rng.random
        self._text = _Text(self._rnd)
        self._ids = _Ids()
        states = [_state(chat) for chat in _CHATS]
        self._chats = _Weighted(states, [_zipf(rank) for rank in range(1, len(states) + 1)])
        self._clock = _START_MS
        self._pending: list[tuple[int, int, Event]] = []
        self._sequence = 0
        self._calls = 0

    def events(self, n: int) -> Iterator[Event]:
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

    def _emit(self, state: _ChatState, event: Event, occurred_ms: int) -> None:
        # A gateway delivers in its own order after its own delay: arrival order
        # differs from occurred_at across gateways, never within one.
        self._sequence += 1
        heapq.heappush(self._pending, (occurred_ms + state.delay_ms, self._sequence, event))

    def _address(self, state: _ChatState, kind: str, topic: str | None) -> Event:
        chat = state.chat
        event: Event = {"type": kind, "agent": chat.agent, "platform": chat.platform}
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
        self, state: _ChatState, topic: str | None, author: _Author, text: str, at_ms: int
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


def generate(n: int, seed: int = 0) -> Iterator[Event]:
    """Yield exactly `n` JSON-ready events; the same (n, seed) always gives the same events."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    return _Workload(seed).events(n)


def write_jsonl(n: int, seed: int, stream: TextIO, *, chunk: int = 2_000) -> int:
    """Write `generate(n, seed)` to `stream` as JSON Lines; returns the number written."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines: list[str] = []
    written = 0
    for event in generate(n, seed):
        lines.append(dumps(event))
        if len(lines) == chunk:
            stream.write("\n".join(lines) + "\n")
            written += len(lines)
            lines.clear()
    if lines:
        stream.write("\n".join(lines) + "\n")
        written += len(lines)
    return written
