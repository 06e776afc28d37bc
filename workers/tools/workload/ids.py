"""Message ids in each platform's own style: snowflakes, timestamps, counters, hex ids."""

from __future__ import annotations

from workers.tools.workload.world import Chat

_DISCORD_EPOCH_MS = 1_420_070_400_000


class _Stamps:
    """Unique integers near a time-derived base, for ids of events made out of time order.

    Every event is created at or after the generator's clock, so values below the
    clock's own base can never be asked for again and are dropped: the set stays small.
    """

    __slots__ = ("_step", "_used")

    def __init__(self, step: int = 1) -> None:
        self._step = step  # a taken value moves on by this much: it keeps its residue
        self._used: set[int] = set()

    def take(self, base: int, floor: int) -> int:
        used = self._used
        while base in used:
            base += self._step
        used.add(base)
        if len(used) > 2048:
            self._used = {value for value in used if value >= floor}
        return base


# Telegram numbers a chat's messages from 1; a workload of another seed numbers them from
# further on, so the workloads of two seeds can share one log without sharing an id.
_TELEGRAM_SEED_STRIDE = 1_000_000


class MessageIds:
    """Message ids in each platform's own style, unique per platform, and unique across
    seeds: workloads of different seeds (and the shipped sample) never share an id."""

    def __init__(self, seed: int = 0) -> None:
        self._discord = _Stamps()
        # A Discord snowflake's worker and process bits, and a Slack ts's last three digits
        # (moving in steps of 1,000), say which seed made the id.
        self._discord_bits = (seed & 0x3FF) << 12
        self._slack = _Stamps(step=1000)
        self._slack_digits = seed % 1000
        self._counters: dict[str, int] = {}
        self._telegram_offset = seed * _TELEGRAM_SEED_STRIDE
        self._whatsapp = seed << 32  # counters of different seeds never meet

    def new(self, chat: Chat, occurred_ms: int, clock_ms: int) -> str:
        platform = chat.platform
        if platform == "discord":
            return str(self._discord.take(_snowflake(occurred_ms) | self._discord_bits,
                                          _snowflake(clock_ms)))
        if platform == "slack":
            micros = self._slack.take(occurred_ms * 1000 + self._slack_digits, clock_ms * 1000)
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
        if platform == "telegram":
            number = self._counters.get(chat.chat,
                                        chat.first_message_id + self._telegram_offset)
            self._counters[chat.chat] = number + 1
            return str(number)
        self._whatsapp += 1
        return f"3EB0{(self._whatsapp * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF:016X}"


def _snowflake(ms: int) -> int:
    return (ms - _DISCORD_EPOCH_MS) << 22
