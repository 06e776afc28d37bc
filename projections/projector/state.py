"""The fold's state values and the results a catch-up reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

MEMBER_KINDS = {"message.received": "user", "message.sent": "assistant", "tool.used": "tool"}
CHANGE_KINDS = {"message.edited": "edited", "message.deleted": "deleted",
                "content.redacted": "redacted"}
MessageRef = tuple[str, str, str, str, str]  # agent, platform, account, chat, message_id
TRIGGER_TEXT_CHARS = 256
# Positions per batch: a batch costs a fixed handful of statements, so larger batches
# fold faster (measured: 36k events/s at 5,000, 42k at 20,000 on 50k events) while
# memory stays flat (envelopes only, no content).
BATCH_SIZE = 20_000


@dataclass(slots=True)
class Head:
    key: str
    session_id: uuid.UUID
    epoch: int
    started_by: str
    last_user_at: datetime | None


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
    caught_up: bool = False  # the batch read everything up to the log's head


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
