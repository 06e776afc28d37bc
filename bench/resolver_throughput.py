"""Resolver throughput (events/s, one core) over ~200k synthetic events under several policies."""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventlog.events import Event
from projections.policy import Policy, load_policy
from projections.resolver import CompiledPolicy

POLICIES: dict[str, dict[str, Any]] = {
    "default": {},
    "per-user-in-groups": {"dimensions": ["chat", "sender"]},
    "guild-wide": {
        "spaces": {"discord:g0": {"session_scope": "guild",
                                  "channels": {"c3": {"session_scope": "channel"}},
                                  "privacy_zones": ["c9"]}},
        "channel_groups": {"studio": ["telegram:c1", "telegram:c2"]},
        "identity_links": {"john": ["discord:u1", "telegram:u1"]},
        "rules": [{"name": "support", "when": {"agent": "support", "platform": "telegram"},
                   "dimensions": ["chat", "sender"]}],
    },
}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def synthetic_events(count: int, *, chats: int, members: int, seed: int) -> list[Event]:
    """A gateway-like mix: user messages, agent replies and tool calls, edits, some threads.

    A chat keeps its platform, type and agent; it has `members` regular writers and a few
    threads. Huge `chats` and `members` make nearly every address new (the worst case).
    """
    rng = random.Random(seed)
    events: list[Event] = []
    last_user_message: dict[str, str] = {}
    for n in range(count):
        chat_number = rng.randrange(chats)
        fields = _address(chat_number, rng)
        fields.update(occurred_at=NOW, message_id=f"m{n}", text="hello there")
        chat = fields["chat"]
        roll = rng.random()
        if roll < 0.45 or chat not in last_user_message:
            fields.update(type="message.received", sender=_member(rng, chat_number, members))
            if rng.random() < 0.01:
                fields["text"] = "/reset"
            last_user_message[chat] = f"m{n}"
        elif roll < 0.85:
            fields.update(type=rng.choice(("message.sent", "tool.used")),
                          reply_to=last_user_message[chat])
        else:
            fields.update(type="message.edited", sender=_member(rng, chat_number, members))
        events.append(Event.model_construct(**fields))
    return events


def _address(chat_number: int, rng: random.Random) -> dict[str, Any]:
    platform = ("discord", "telegram", "slack")[chat_number % 3]
    return {
        "agent": "support" if chat_number % 5 == 0 else "main", "platform": platform,
        "account": "default", "space": "g0" if platform == "discord" else None,
        "chat": f"c{chat_number}", "chat_type": "dm" if chat_number % 7 == 0 else "group",
        "topic": f"t{chat_number}-{rng.randrange(3)}" if rng.random() < 0.2 else None,
    }


def _member(rng: random.Random, chat_number: int, members: int) -> str:
    return f"u{chat_number * 7 + rng.randrange(members)}"


def answered_keys(events: list[Event], policy: Policy) -> Callable[[str, Event], str | None]:
    """The reply lookup a projector would offer, prepared ahead (not timed)."""
    warmup = CompiledPolicy(policy)
    keys = {e.message_id: warmup.resolve(e).key for e in events if e.type == "message.received"}

    def lookup(message_id: str, _reply: Event) -> str | None:
        return keys.get(message_id)

    return lookup


def time_resolve(events: list[Event], policy: Policy, *, with_lookup: bool) -> float:
    lookup = answered_keys(events, policy) if with_lookup else None
    compiled = CompiledPolicy(policy)  # fresh: its memos start empty, as in a rebuild
    resolve = compiled.resolve
    started = time.perf_counter()
    for event in events:
        resolve(event, lookup_reply=lookup)
    return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    workloads = {
        "typical (500 chats, 20 writers each)": synthetic_events(
            args.events, chats=500, members=20, seed=args.seed),
        "worst case (every address new)": synthetic_events(
            args.events, chats=10**12, members=10**12, seed=args.seed),
    }
    # The store hands events over in batches; keep the benchmark's 200k prebuilt events out
    # of the garbage collector's way so that only the resolver's own allocations count.
    gc.collect()
    gc.freeze()
    print(f"resolver throughput, one core, {args.events:,} events per run")
    for workload, events in workloads.items():
        for name, document in POLICIES.items():
            policy = load_policy({"name": name, **document})
            rate = time_resolve(events, policy, with_lookup=True)
            print(f"  {workload:<38} {name:<20} {rate:>10,.0f} events/s")


if __name__ == "__main__":
    main()
