"""What the readers hand over: gateway sessions and their entries, gateway-neutral."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

Role = Literal["user", "assistant", "tool", "summary"]


@dataclass
class Entry:
    """One message, tool step or summary of a gateway session, as read from its store."""

    entry_id: str
    role: Role
    text: str
    occurred_at: datetime | None
    sender: str | None = None
    sender_name: str | None = None
    message_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None  # the message answered, when the store names it


@dataclass
class Address:
    """Where a gateway session's chat is, in convlog's terms; None where unknown."""

    agent: str
    platform: str | None = None
    account: str = "default"
    space: str | None = None
    chat: str | None = None
    chat_type: str | None = None
    topic: str | None = None
    peer: str | None = None  # a DM's other party, the default sender of its messages


@dataclass
class GatewaySession:
    """One session (one epoch) of a gateway store and everything read from it."""

    gateway: str
    key: str  # the gateway's session key
    session_id: str  # the gateway's id of this epoch
    address: Address
    entries: list[Entry] = field(default_factory=list)
    source: str = ""
    epoch: int = 0  # order within the key: earlier epochs first (archived: negative)
    continues: bool = False  # a compression successor: the same conversation, no reset
    thread_known: bool = True  # False: the store cannot tell a thread's messages apart
    started_at: datetime | None = None  # the time of entries stored without one
    aliases: list[str] = field(default_factory=list)
    scope: dict[str, Any] | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


@dataclass
class StoreProblem:
    """A file that could not be read whole: reported, never raised."""

    path: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem}


@dataclass
class StoreRead:
    """Everything a reader found in a store."""

    gateway: str
    path: str
    sessions: list[GatewaySession] = field(default_factory=list)
    problems: list[StoreProblem] = field(default_factory=list)
    naive_times: int = 0  # times read without a zone, taken in the import's zone
    notes: list[str] = field(default_factory=list)
    follow_links: bool = False  # read files a link or an absolute path leads to elsewhere

    def problem(self, path: object, problem: str) -> None:
        self.problems.append(StoreProblem(str(path), problem))

    def may_read(self, path: Path) -> bool:
        """Whether `path` lies inside the store (after links), or links may be followed;
        a file outside is reported, not read."""
        if self.follow_links:
            return True
        store = Path(self.path)
        root = (store.parent if store.is_file() else store).resolve()
        try:
            inside = path.resolve().is_relative_to(root)
        except (OSError, RuntimeError):  # a link loop
            inside = False
        if not inside:
            self.problem(path, "leads outside the store (a link, or a path to elsewhere); "
                         "not read: pass --follow-links to read it")
        return inside
