"""What a context is made of, rendered once: its items, and the items an assembler keeps
for the next contexts of their sessions (a gateway's turn renders only what is new)."""

from __future__ import annotations

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


_Entry = tuple[tuple[Any, ...], Item, int]  # the row, what it rendered, about its bytes


class Kept:
    """Members rendered once and kept by position, each with the row it was rendered from.

    Rendering is a pure function of a member's row (its content, its latest change,
    whether either was erased): a later context reads the row again, as it always
    does, and takes the kept item only when the row reads the same, field for field.
    So nothing changed since (an edit, a delete, a redaction, an erasure, a rebuild,
    another projection) can be served from here; an erased or removed member's entry
    is dropped when its row is read, and `forget` (on an erasure's notice) drops all.
    Two generations bound the memory: new and used entries go to the young one; when
    it holds half the limit, it becomes the old one and the old one is let go.
    """

    def __init__(self, limit: int = KEPT_BYTES) -> None:
        self._half = limit // 2
        self.young: dict[int, _Entry] = {}  # read directly by the assembler's walk
        self._old: dict[int, _Entry] = {}
        self._size = 0  # about what the young generation holds

    def __len__(self) -> int:
        return len(self.young) + len(self._old)

    def get(self, position: int, row: tuple[Any, ...]) -> Item | None:
        """The item kept for `position` if it was rendered from a row equal to `row`."""
        found = self.young.get(position)
        if found is None:
            found = self._old.pop(position, None)
            if found is None:
                return None
            self._keep(position, found)
        return found[1] if found[0] == row else None

    def put(self, position: int, row: tuple[Any, ...], item: Item) -> None:
        # About what the entry holds: the row's strings, the messages' copies of them
        # and their JSON, and a few hundred bytes of objects.
        self._old.pop(position, None)
        self._keep(position, (row, item,
                              3 * sum(len(v) for v in row if isinstance(v, str)) + 600))

    def _keep(self, position: int, entry: _Entry) -> None:
        self._size += entry[2]
        if self._size > self._half:
            self._old, self.young, self._size = self.young, {}, entry[2]
        self.young[position] = entry

    def drop(self, position: int) -> None:
        self.young.pop(position, None)
        self._old.pop(position, None)

    def forget(self) -> None:
        self.young, self._old, self._size = {}, {}, 0
