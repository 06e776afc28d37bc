"""The fold's state values and the results a catch-up reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

MEMBER_KINDS = {"message.received": "user", "message.sent": "assistant", "tool.used": "tool"}
CHANGE_KINDS = {"message.edited": "edited", "message.deleted": "deleted",
                "content.redacted": "redacted"}
MessageRef = tuple[str, str, str, str, str]  # agent, platform, account, chat, message_id
TRIGGER_TEXT_CHARS = 256


@dataclass(slots=True)
class Head:
    key: str
    session_id: uuid.UUID
    epoch: int
    started_by: str
    last_user_at: datetime | None
    dirty: bool = False


@dataclass(slots=True)
class Session:
    session_id: uuid.UUID
    key: str
    epoch: int
    started_by: str
    agent: str
    platform: str
    legacy_keys: dict[str, str]
    first_at: datetime
    last_at: datetime
    last_user_at: datetime | None
    first_position: int
    last_position: int
    message_count: int = 0
    token_total: int = 0
    running_total: int = 0
    summary_position: int | None = None
    summarized_count: int = 0
    summarized_tokens: int = 0
    participants: list[str] = field(default_factory=list)
    chats: list[str] = field(default_factory=list)
    parent_session_id: uuid.UUID | None = None
    parent_position: int | None = None
    needs_summary: bool = False
    summary_reason: str | None = None
    dirty: bool = False


@dataclass(slots=True)
class IndexedMessage:
    session_id: uuid.UUID
    position: int
    tokens: int  # as the context shows it now: after edits, 0 once deleted


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An event a projection could not fold: where it is, a stable code and the error."""

    position: int
    code: str
    error: str


@dataclass
class BatchResult:
    events: int
    checkpoint: int
    members: int = 0
    sessions_touched: int = 0
    quarantined: tuple[Quarantined, ...] = ()


@dataclass
class CatchUpResult:
    events: int = 0
    batches: int = 0
    checkpoint: int = 0
    seconds: float = 0.0
    skipped: bool = False
    holders: tuple[int, ...] = ()  # when skipped: the backends holding the projector lock
    quarantined: int = 0
    resumed_slices: int = 0  # slices of an interrupted parallel build this run finished

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0
