"""The workload's fixed world: start time, people, bots, chats. The seed only drives activity."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Any

START = "2026-01-05T09:00:00Z"
START_MS = calendar.timegm((2026, 1, 5, 9, 0, 0, 0, 0, 0)) * 1000

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

# Users ordered by activity (Zipf rank): the order of _PEOPLE.
USER_RANK = {row[0]: rank for rank, row in enumerate(_PEOPLE, start=1)}


@dataclass(frozen=True, slots=True)
class Author:
    """Someone who writes in a chat, as one platform knows them."""

    handle: str
    id: str
    name: str


def author_on(handle: str, platform: str) -> Author:
    """The person `handle` as `platform` shows them: Discord by handle, others by full name."""
    row = next(row for row in _PEOPLE if row[0] == handle)
    display = row[1]
    name = handle if platform == "discord" else display
    return Author(handle, row[_PLATFORM_COLUMN[platform]], name)


def _on(platform: str) -> tuple[str, ...]:
    return tuple(row[0] for row in _PEOPLE if row[_PLATFORM_COLUMN[platform]])


# (platform, account) -> the bot's user id and name; also the gateway's delivery delay (ms).
BOTS = {
    ("discord", "default"): Author("convbot", "1187654321098765432", "convbot"),
    ("telegram", "default"): Author("convbot", "7012345678", "ConvBot"),
    ("telegram", "support_bot"): Author("supportbot", "7098765432", "Support Bot"),
    ("slack", "default"): Author("convbot", "U07CONVBOT", "convbot"),
    ("whatsapp", "default"): Author("convbot", "4915199990000", "ConvBot"),
}
GATEWAY_DELAY_MS = {
    ("discord", "default"): 150,
    ("telegram", "default"): 900,
    ("telegram", "support_bot"): 1_400,
    ("slack", "default"): 2_500,
    ("whatsapp", "default"): 6_000,
}


@dataclass(frozen=True, slots=True)
class Chat:
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


def _channel(chat: str, name: str, **options: Any) -> Chat:
    options.setdefault("members", _on("discord"))
    options.setdefault("space", "1234567890")
    return Chat("discord", chat, "channel", name, threads=True, **options)


def _dm(platform: str, handle: str, chat: str | None = None) -> Chat:
    peer = author_on(handle, platform)
    chat_id = chat or (f"{peer.id}@s.whatsapp.net" if platform == "whatsapp" else peer.id)
    return Chat(platform, chat_id, "dm", f"dm:{handle}", (handle,), reply_rate=0.97)


_TG_FORUM = "-1001234567890"
_SLACK = "T024BE7LD"
_SLACK_OPS = "T07OPS1234"

# Ordered by activity: the Zipf rank of a chat is its place in this list.
CHATS: tuple[Chat, ...] = (
    _channel("1000000001", "general", reply_rate=0.45),
    Chat("telegram", _TG_FORUM, "group", "Convlog Community", _on("telegram"),
         topics=("652", "29"), reply_rate=0.5, first_message_id=41_000),
    Chat("slack", "C024BE91L", "channel", "general", _on("slack"), space=_SLACK,
         threads=True, reply_rate=0.4),
    _dm("discord", "alice", "1200000000000000101"),
    _channel("1000000002", "requests", reply_rate=0.85),
    Chat("whatsapp", "120363041234567890@g.us", "group", "Weekend Hackers", _on("whatsapp"),
         reply_rate=0.4),
    _dm("telegram", "alice"),
    _channel("1000000004", "code-review", reply_rate=0.6),
    Chat("slack", "C03QA7M2K1P", "channel", "deploys", _on("slack")[:6], space=_SLACK,
         threads=True, reply_rate=0.5),
    Chat("telegram", _TG_FORUM, "group", "Convlog Community", _on("telegram"),
         agent="support", account="support_bot", topics=("29",), reply_rate=0.8,
         first_message_id=41_000),
    _channel("1000000003", "logs", reply_rate=0.1),
    _dm("slack", "bob", "D024BE91M"),
    _channel("1000000005", "devops", members=_on("discord")[:8], reply_rate=0.55),
    Chat("slack", "C05HELP0001", "channel", "help", _on("slack"), agent="support",
         space=_SLACK, threads=True, reply_rate=0.9),
    _dm("discord", "bob", "1200000000000000102"),
    Chat("telegram", "-1009876543210", "group", "Ops Alerts", _on("telegram")[:7],
         reply_rate=0.3, first_message_id=88_000),
    _dm("whatsapp", "frank"),
    Chat("discord", "2000000001", "channel", "general", _on("discord")[6:],
         space="876543210987654321", threads=True, reply_rate=0.5),
    _dm("telegram", "carol"),
    Chat("whatsapp", "120363099887766554@g.us", "group", "Customer Support",
         _on("whatsapp"), agent="support", reply_rate=0.9),
    _dm("slack", "erin", "D04M7QZ2C"),
    _channel("1000000009", "mod-private", members=("alice", "bob", "grace"), reply_rate=0.6),
    Chat("discord", "2000000002", "channel", "support", _on("discord")[6:],
         agent="support", space="876543210987654321", threads=True, reply_rate=0.9),
    _dm("discord", "dave", "1200000000000000104"),
    _dm("telegram", "ivan"),
    Chat("slack", "C07OPSALRT", "channel", "alerts", _on("slack")[2:], space=_SLACK_OPS,
         reply_rate=0.3),
    _dm("whatsapp", "olivia"),
    _dm("discord", "grace", "1200000000000000107"),
    _dm("telegram", "judy"),
    _dm("slack", "heidi", "D05B1N3CF"),
    _dm("whatsapp", "peggy"),
)
