"""Seed 001 (TinyClaw #144): Telegram topics and Discord threads must not bleed into each other."""

from __future__ import annotations

from typing import Any

from eventlog.events import Event
from projections.policy import load_policy
from projections.resolver import resolve, session_id_for

FORUM = "-1001234567890"


def event(**fields: Any) -> Event:
    base = {"type": "message.received", "agent": "main", "platform": "telegram",
            "chat": FORUM, "chat_type": "group", "sender": "42", "message_id": "m1",
            "text": "hello", "occurred_at": "2026-03-01T12:00:00Z"}
    return Event.model_validate({**base, **fields})


def discord_thread(**fields: Any) -> Event:
    return event(platform="discord", space="1234567890", chat="1000000002",
                 chat_type="channel", topic="xyz", **fields)


def test_topics_and_threads_of_one_agent_each_get_an_isolated_session() -> None:
    # Given the default policy and one agent serving Telegram and Discord
    policy = load_policy({})
    # When messages arrive in Telegram topics 652 and 29 and in Discord thread xyz
    topic_652 = resolve(event(topic="652"), policy)
    topic_29 = resolve(event(topic="29"), policy)
    thread_xyz = resolve(discord_thread(), policy)
    # Then there are three sessions, isolated from each other
    assert len({topic_652.session_id, topic_29.session_id, thread_xyz.session_id}) == 3
    assert topic_652.is_thread and topic_29.is_thread and thread_xyz.is_thread
    # And none of them is the forum's own session
    forum = resolve(event(), policy)
    assert forum.key not in {topic_652.key, topic_29.key}
    assert topic_652.parent_key == forum.key


def test_a_threads_session_id_is_known_before_the_first_call_and_survives_restarts() -> None:
    # Given the policy loaded twice, as after a restart
    first, second = load_policy({}), load_policy({})
    # When the first message of topic 652 is resolved under each
    before = resolve(event(topic="652"), first)
    after = resolve(event(topic="652"), second)
    # Then the id is the same (like pre-assigning --session-id) and derivable from the key
    assert before.session_id == after.session_id
    assert session_id_for(first, before.key, 0) == before.session_id


def test_new_threads_get_fresh_sessions_without_config_changes() -> None:
    # Given the default policy
    policy = load_policy({})
    # When a thread nobody configured appears
    fresh = resolve(discord_thread(message_id="m9").model_copy(update={"topic": "new"}), policy)
    # Then it gets its own session at once, explained by threads.isolate
    assert fresh.is_thread
    assert any("threads.isolate" in reason for reason in fresh.reasons)


def test_reset_in_a_thread_is_recognised_and_only_that_thread_restarts() -> None:
    # Given the default triggers /new and /reset
    policy = load_policy({})
    # When /reset is typed in topic 652
    reset = resolve(event(topic="652", text="/reset"), policy)
    # Then it is flagged as a reset trigger of topic 652's session, a new epoch gets a new id
    assert reset.reset_trigger
    assert reset.key == resolve(event(topic="652"), policy).key
    assert session_id_for(policy, reset.key, 1) != reset.session_id
    # And telegram's /reset@botname form counts too, while other text does not
    assert resolve(event(topic="652", text="/reset@my_bot"), policy).reset_trigger
    assert not resolve(event(topic="652", text="please /reset"), policy).reset_trigger


def test_inherit_parent_points_the_thread_at_its_parent_session() -> None:
    # Given threads that start with their parent's context
    policy = load_policy({"threads": {"isolate": True, "inherit_parent": True}})
    # When a thread is created from a message in the forum
    created = resolve(event(type="thread.created", topic="652", parent_message_id="m1",
                            message_id=None, text=None), policy)
    # Then the thread session knows its parent's key, as the projector needs
    assert created.is_thread
    assert created.parent_key == resolve(event(), policy).key
    assert any("inherit_parent" in reason for reason in created.reasons)


def test_threads_can_be_folded_back_into_their_chat() -> None:
    # Given the opt-out: threads.isolate false
    policy = load_policy({"threads": {"isolate": False}})
    # When a message arrives in topic 652
    folded = resolve(event(topic="652"), policy)
    # Then it lands in the forum's session
    assert folded.key == resolve(event(), policy).key
    assert not folded.is_thread
