"""Message text: user lines, agent answers, edits, thread names and tool calls, drawn at random."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from workers.tools.workload.tool_output import tools
from workers.tools.workload.vocabulary import (
    BOT_OPENERS,
    BOT_SENTENCES,
    CODE,
    EDIT_SUFFIXES,
    SENTENCES,
    SHORT,
    SLOTS,
    THREAD_NAMES,
    Template,
    compile_all,
)

T = TypeVar("T")


class Text:
    """Renders chat lines, agent answers and tool output from the vocabulary."""

    def __init__(self, rnd: Callable[[], float]) -> None:
        self._rnd = rnd
        self._short = compile_all(SHORT)
        self._sentences = compile_all(SENTENCES)
        self._openers = BOT_OPENERS
        self._bot = compile_all(BOT_SENTENCES)
        self._code = compile_all(CODE)
        self._thread_names = compile_all(THREAD_NAMES)
        self._suffixes = compile_all(EDIT_SUFFIXES)

    def _pick(self, items: Sequence[T]) -> T:
        return items[int(self._rnd() * len(items))]

    def _fill(self, templates: Sequence[Template]) -> str:
        fmt, kinds = self._pick(templates)
        if not kinds:
            return fmt.format()
        return fmt.format(*[self._pick(SLOTS[kind]) for kind in kinds])

    def _sentences_of(self, templates: Sequence[Template], count: int) -> str:
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
        name, header, pool = self._pick(tools())
        size = 6_000 + int(self._rnd() * 12_000) if large else 80 + int(self._rnd() * 1_400)
        start = int(self._rnd() * (len(pool) - size))
        start = pool.find("\n", start) + 1
        fmt, kinds = header
        call = fmt.format(*[self._pick(SLOTS[kind]) for kind in kinds])
        return name, call + "\n" + pool[start:start + size]
