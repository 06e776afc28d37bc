"""What a context is made of, rendered once: its items, and the items an assembler keeps
for the next contexts of their sessions (a gateway's turn renders only what is new)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# What the rendered members kept for the next contexts may hold, about, per assembler (a
# server process has one): past it the older half is let go.
KEPT_BYTES = 64 * 2**20


@dataclass(slots=True)
class Item:
    """One member of the context: one event, rendered as one or two chat messages.

    An assembler keeps the items it rendered and hands the same ones to later contexts
    (`Kept`): they are read, never changed. `wire` is the edge's encoding of the
    messages, made once by the first answer that needs it and kept with the item.
    """

    messages: tuple[dict[str, Any], ...]
    tokens: int
    position: int
    wire: Any = field(default=None, compare=False, repr=False)


_Entry = tuple[tuple[Any, ...], "Item | None", int]  # the row, its rendering, about its bytes


class Kept:
    """Members rendered once and kept by position, each with the row it was rendered from.

    Rendering is a pure function of a member's row (its content, its latest change,
    whether either was erased). The row kept is the member's own (`projections.members`:
    position, counts, latest change), without its content: content changes only by
    erasure, and every erasure moves the content generation, which a context reads with
    its session (`advance`): a generation this has not seen forgets everything, and an
    item rendered under an older one is not kept. So a kept item is taken only when its
    member's row reads the same, field for field, and no erasure happened since: nothing
    changed (an edit, a delete, a redaction, an erasure, a rebuild, another projection)
    is served from here. A member that renders nothing (erased, deleted) is kept as None.
    Two generations bound the memory: new and used entries go to the young one; when
    it holds half the limit, it becomes the old one and the old one is let go.
    """

    def __init__(self, limit: int = KEPT_BYTES) -> None:
        self._half = limit // 2
        self.young: dict[int, _Entry] = {}  # read directly by the assembler's walk
        self._old: dict[int, _Entry] = {}
        self._size = 0  # about what the young generation holds
        self.generation = -1  # of content, as the last reader that moved it saw it
        self._lock = threading.Lock()  # a reader moving the generation, another keeping

    def __len__(self) -> int:
        return len(self.young) + len(self._old)

    def advance(self, generation: int) -> None:
        """A reader saw content at `generation`: a newer one than this has seen may have
        erased anything kept, so everything is let go. (An older one is a reader whose
        snapshot came first: what is kept was rendered later, still unerased.)"""
        if generation > self.generation:
            with self._lock:
                if generation > self.generation:
                    self.young, self._old, self._size = {}, {}, 0
                    self.generation = generation

    def get(self, position: int, row: tuple[Any, ...]) -> tuple[bool, Item | None]:
        """(True, the item) kept for `position` if it was rendered from a row equal to
        `row`; (False, None) if none is."""
        found = self.young.get(position)
        if found is None:
            with self._lock:  # never carried over a `forget`
                found = self._old.pop(position, None)
                if found is None:
                    return False, None
                self._keep(position, found)
        return (True, found[1]) if found[0] == row else (False, None)

    def put(self, position: int, row: tuple[Any, ...], item: Item | None,
            generation: int) -> None:
        """Keep `item`, rendered from content read under `generation` (not kept if the
        generation has moved since: an erasure may have come between)."""
        # About what the entry holds: the messages' text, their JSON, a few hundred bytes
        # of objects.
        size = 200 if item is None else 600 + 3 * sum(
            len(m.get("content") or "") for m in item.messages)
        with self._lock:
            if generation != self.generation:
                return
            self._old.pop(position, None)
            self._keep(position, (row, item, size))

    def _keep(self, position: int, entry: _Entry) -> None:
        self._size += entry[2]
        if self._size > self._half:
            self._old, self.young, self._size = self.young, {}, entry[2]
        self.young[position] = entry

    def forget(self) -> None:
        with self._lock:
            self.young, self._old, self._size = {}, {}, 0
