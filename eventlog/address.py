"""Where an event was said: the one address value of the log, its projections, search
hits and the edges (a message is found again by its address and message id)."""

from __future__ import annotations

from typing import Any, NamedTuple


class Address(NamedTuple):
    """Agent, platform, account, and the place in it: space, chat (and its type), topic;
    and who wrote there. A NamedTuple: cheap to make per event, hashable, comparable."""

    agent: str
    platform: str
    account: str
    space: str | None
    chat: str | None
    chat_type: str | None
    topic: str | None
    sender: str | None

    @classmethod
    def of(cls, holder: Any) -> Address:
        """The address of anything that carries these attributes (an event, a row)."""
        return cls(holder.agent, holder.platform, holder.account, holder.space, holder.chat,
                   holder.chat_type, holder.topic, holder.sender)

    def as_dict(self) -> dict[str, str | None]:
        return self._asdict()

