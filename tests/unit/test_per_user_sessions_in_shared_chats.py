"""Seed 000 (Hermes #814): a Discord channel shares one session; users want their own."""

from __future__ import annotations

from typing import Any

from eventlog.events import Event
from projections.policy import load_policy
from projections.resolver import resolve

CHANNEL = "1000000001"
ALICE, BOB = "111111111", "222222222"


def event(**fields: Any) -> Event:
    base = {"type": "message.received", "agent": "main", "platform": "discord",
            "space": "1234567890", "chat": CHANNEL, "chat_type": "channel",
            "message_id": "m1", "text": "hello", "occurred_at": "2026-03-01T12:00:00Z"}
    return Event.model_validate({**base, **fields})


def test_by_default_two_users_in_one_channel_share_one_session() -> None:
    # Given the default policy, which keys group chats by chat (as Hermes does)
    policy = load_policy({})
    # When Alice and then Bob write in the same Discord channel
    alice = resolve(event(sender=ALICE, message_id="a1"), policy)
    bob = resolve(event(sender=BOB, message_id="b1"), policy)
    # Then both land in one shared session, the one Hermes calls agent:main:discord:channel:<id>
    assert alice.key == bob.key
    assert alice.session_id == bob.session_id
    assert alice.legacy["hermes"] == f"agent:main:discord:channel:{CHANNEL}"


def test_per_user_policy_gives_each_user_a_private_session_in_the_channel() -> None:
    # Given option A of the issue: per-user sessions in group contexts
    policy = load_policy({"dimensions": ["chat", "sender"]})
    # When Alice asks a tool-heavy question and Bob an unrelated one in the same channel
    alice = resolve(event(sender=ALICE, message_id="a1"), policy)
    bob = resolve(event(sender=BOB, message_id="b1"), policy)
    # Then Bob does not pay for Alice's context: their sessions differ
    assert alice.key != bob.key
    assert alice.session_id != bob.session_id
    # And the Hermes key of option A (platform:chat_type:chat_id:user_id) is offered
    assert alice.legacy["hermes"] == f"agent:main:discord:channel:{CHANNEL}:{ALICE}"
    assert any("sender" in reason for reason in alice.reasons)


def test_agent_reply_lands_in_the_session_of_the_user_it_answers() -> None:
    # Given per-user sessions and Alice's question already in her session
    policy = load_policy({"dimensions": ["chat", "sender"]})
    question = resolve(event(sender=ALICE, message_id="a1"), policy)
    sessions_by_message = {"a1": question.key}

    def lookup(message_id: str, _reply: Event) -> str | None:
        return sessions_by_message.get(message_id)

    # When the agent answers her (the reply's sender is the bot, not Alice)
    reply = event(type="message.sent", sender="bot", message_id="r1", reply_to="a1")
    landed = resolve(reply, policy, lookup_reply=lookup)
    tool = resolve(event(type="tool.used", reply_to="a1", message_id=None), policy,
                   lookup_reply=lookup)
    # Then the reply and the tool call join Alice's session, not a session of the bot
    assert landed.key == question.key == tool.key
    assert landed.session_id == question.session_id
    assert landed.via_reply
    assert "answers an earlier message" in landed.reasons[0]


def test_reply_without_lookup_resolves_by_its_own_address_and_says_so() -> None:
    # Given per-user sessions and no way to look the answered message up
    policy = load_policy({"dimensions": ["chat", "sender"]})
    # When the agent's reply is resolved on its own
    reply = resolve(event(type="message.sent", sender="bot", message_id="r1", reply_to="a1"),
                    policy)
    # Then it falls back to the chat-wide session (the bot is no sender dimension) and says why
    assert reply.key == "agent=main/platform=discord/account=default/chat=1000000001"
    assert not reply.via_reply
    assert "no reply lookup" in reply.reasons[0]


def test_unknown_answered_message_falls_back_and_says_so() -> None:
    # Given a lookup that does not know the answered message yet
    policy = load_policy({"dimensions": ["chat", "sender"]})
    # When a reply to it is resolved
    reply = resolve(event(type="message.sent", message_id="r1", reply_to="zz"), policy,
                    lookup_reply=lambda _message_id, _event: None)
    # Then it resolves by its own address and the reasons name the unknown message
    assert "zz" in reply.reasons[0] and "not known" in reply.reasons[0]


def test_a_users_dm_never_mixes_with_the_group() -> None:
    # Given per-user sessions in groups
    policy = load_policy({"dimensions": ["chat", "sender"]})
    # When Alice writes in the channel and in a DM with the bot
    in_group = resolve(event(sender=ALICE), policy)
    in_dm = resolve(event(sender=ALICE, chat="dm-alice", chat_type="dm", space=None), policy)
    # Then the DM has its own session, decided by dm_scope
    assert in_group.key != in_dm.key
    assert any("dm_scope per-channel-peer" in reason for reason in in_dm.reasons)


def test_shared_sessions_with_earlier_summaries_keep_the_same_grouping() -> None:
    # Given option B: the shared session stays, only compaction gets more aggressive
    default = load_policy({})
    earlier = load_policy({"name": "shared", "compaction": {"summarize_token_percent": 60}})
    # When the same message is resolved under both
    before = resolve(event(sender=ALICE), default)
    after = resolve(event(sender=ALICE), earlier)
    # Then nothing moves: name and compaction are not part of the grouping
    assert before.session_id == after.session_id
