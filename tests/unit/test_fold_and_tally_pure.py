"""The pure halves of the fold and the simulation, without a database: which session each
event joins (`assign`), and the tally's context, cache and cross-user arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventlog.envelopes import Envelope
from projections.policy import Policy
from projections.projector.assign import Assigner, Known, wanted
from projections.resolver import compile_policy
from projections.simulate.model import Window
from projections.simulate.tally import Tally

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def envelope(position: int, *, sender: str | None = "u1", chat: str = "c1",
             kind: str = "message.received", text: str | None = "hi",
             reply_to: str | None = None) -> Envelope:
    return Envelope(position, kind, "main", "discord", "default", "g1", chat, "channel", None,
                    sender, f"m{position}", reply_to, T0 + timedelta(minutes=position),
                    text if kind == "message.received" else None, None)


def assign(policy: Policy, events: list[Envelope]) -> list[tuple[int, int]]:
    """Each event's (session number in order of first appearance, epoch)."""
    compiled = compile_policy(policy)
    want = wanted(compiled, events)
    out = Assigner(compiled, Known()).run(events, want.resolutions)
    numbers: dict[object, int] = {}
    epochs = {row[0]: row[2] for row in out.opened}
    return [(numbers.setdefault(s, len(numbers)), int(str(epochs[s])))
            for s in out.member_sessions]


def test_one_chat_is_one_session_and_a_reset_trigger_opens_the_next_epoch() -> None:
    policy = Policy.model_validate({"reset": {"triggers": ["/reset"]}})
    events = [envelope(1), envelope(2, sender="u2"), envelope(3, text="/reset please"),
              envelope(4), envelope(5, chat="c2")]
    # The trigger opens epoch 1 and is not itself a member; the next message joins it;
    # another chat is another session
    assert assign(policy, events) == [(0, 0), (0, 0), (1, 1), (2, 0)]


def test_a_per_user_policy_splits_senders_and_a_reply_follows_the_message_it_answers() -> None:
    policy = Policy.model_validate({"dimensions": ["chat", "sender"]})
    events = [envelope(1, sender="u1"), envelope(2, sender="u2"),
              envelope(3, kind="message.sent", sender="bot", reply_to="m1"),
              envelope(4, kind="message.sent", sender="bot", reply_to="m2")]
    assert assign(policy, events) == [(0, 0), (1, 0), (0, 0), (1, 0)]


def tally(budget: int, ttl: float | None = 5.0) -> Tally:
    return Tally(Window(upto=100), budget, (), ttl)


def feed(t: Tally, slot: int, position: int, kind: str, sender: str | None, tokens: int,
         minutes: int) -> None:
    t.member(slot, position, kind, sender, tokens, T0 + timedelta(minutes=minutes), "discord",
             "g1", "c1", "channel")


def test_a_turn_sends_what_fits_the_budget_and_reads_an_unchanged_prefix_from_cache() -> None:
    t = tally(budget=100)
    t.open(0, "k", "main")
    feed(t, 0, 1, "user", "alice", 30, 0)     # turn 1: context 30, written
    feed(t, 0, 2, "assistant", None, 30, 1)
    feed(t, 0, 3, "user", "bob", 30, 2)       # turn 2: 90, of which 30 is alice's
    feed(t, 0, 4, "assistant", None, 30, 3)
    feed(t, 0, 5, "user", "alice", 30, 4)     # turn 3: 150 > 100, so from position 3: 90
    totals = t.totals
    assert (totals.turns, totals.context) == (3, 30 + 90 + 90)
    # turn 2 starts where turn 1 did (position 1) within the TTL: its 30 were cached...
    # turn 3 starts elsewhere (the window slid): written whole
    assert totals.cache_read == 30
    assert totals.cache_write == 30 + 60 + 90
    # cross-user: turn 2 shows bob alice's 30 plus the reply she owns; turn 3 shows alice
    # bob's message and the reply he owns (positions 3 and 4)
    assert totals.cross_user == 60 + 60


def test_an_expired_cache_rewrites_everything() -> None:
    t = tally(budget=1_000, ttl=1.0)
    t.open(0, "k", "main")
    feed(t, 0, 1, "user", "alice", 10, 0)
    feed(t, 0, 2, "user", "alice", 10, 10)   # ten minutes later: past the 1-minute TTL
    assert (t.totals.context, t.totals.cache_read) == (30, 0)
