"""Seed 003 (PicoClaw session guide): every recipe of the guide as a scenario."""

from __future__ import annotations

from typing import Any

from eventlog.events import Event
from projections.policy import load_policy
from projections.resolver import resolve

SUPPORT_GROUP = "-1001234567890"


def event(**fields: Any) -> Event:
    base = {"type": "message.received", "agent": "main", "platform": "slack",
            "space": "T01", "chat": "C01", "chat_type": "channel", "sender": "U1",
            "message_id": "m1", "text": "hello", "occurred_at": "2026-03-01T12:00:00Z"}
    return Event.model_validate({**base, **fields})


def keys(policy: Any, *events: Event) -> list[str]:
    return [resolve(e, policy).key for e in events]


def test_default_one_context_per_chat_and_per_direct_message() -> None:
    # Given dimensions ["chat"]
    policy = load_policy({"dimensions": ["chat"]})
    # When two users write in one channel, another channel, and two DMs
    same_chat = keys(policy, event(sender="U1"), event(sender="U2"))
    other_chat = resolve(event(chat="C02"), policy).key
    dm_one, dm_two = keys(policy, event(chat="D1", chat_type="dm", space=None),
                          event(chat="D2", chat_type="dm", space=None, sender="U2"))
    # Then the channel is shared, channels are apart, and each DM has its own memory
    assert same_chat[0] == same_chat[1]
    assert other_chat != same_chat[0]
    assert dm_one != dm_two


def test_chat_and_sender_separate_each_user_inside_a_group() -> None:
    # Given dimensions ["chat", "sender"]
    policy = load_policy({"dimensions": ["chat", "sender"]})
    # When two users write in the same busy group
    alice, bob = keys(policy, event(sender="U1"), event(sender="U2"))
    # Then each keeps a private context
    assert alice != bob


def test_space_shares_one_context_across_rooms_of_a_workspace() -> None:
    # Given dimensions ["space"]
    policy = load_policy({"dimensions": ["space"]})
    # When users write in two channels of one workspace and in another workspace
    one, two = keys(policy, event(chat="C01"), event(chat="C02", sender="U2"))
    elsewhere = resolve(event(space="T02"), policy).key
    # Then the workspace shares one context, other workspaces stay apart
    assert one == two
    assert elsewhere != one


def test_a_missing_space_simply_has_no_effect() -> None:
    # Given dimensions ["space"] and a platform that supplies no space
    policy = load_policy({"dimensions": ["space"]})
    # When a message without a space is resolved
    plain = resolve(event(platform="telegram", space=None, chat="-100", chat_type="group"),
                    policy)
    # Then the dimension is skipped (the baseline agent+platform+account remains), and said so
    assert plain.key == "agent=main/platform=telegram/account=default"
    assert any("dimension space has no effect" in reason for reason in plain.reasons)


def test_space_and_sender_give_each_user_one_context_across_the_workspace() -> None:
    # Given dimensions ["space", "sender"]
    policy = load_policy({"dimensions": ["space", "sender"]})
    # When U1 moves between rooms and U2 writes in the first room
    u1_here, u1_there, u2_here = keys(policy, event(chat="C01"), event(chat="C02"),
                                      event(chat="C01", sender="U2"))
    # Then U1 keeps one memory across rooms, and U2 has their own
    assert u1_here == u1_there
    assert u2_here != u1_here


def test_chat_and_topic_split_threads_and_forum_topics() -> None:
    # Given dimensions ["chat", "topic"]
    policy = load_policy({"dimensions": ["chat", "topic"]})
    # When messages arrive in two threads of one channel and in the channel itself
    first, second, channel = keys(policy, event(topic="1.1"), event(topic="1.2"), event())
    # Then each threaded discussion stays separate
    assert len({first, second, channel}) == 3


def test_telegram_forum_topics_stay_isolated_in_the_default_chat_mode() -> None:
    # Given only ["chat"]
    policy = load_policy({"dimensions": ["chat"]})
    # When two forum topics of one Telegram group are used
    telegram = {"platform": "telegram", "space": None, "chat": "-1009", "chat_type": "group"}
    one, two = keys(policy, event(topic="3", **telegram), event(topic="4", **telegram))
    # Then no workaround is needed: they are apart
    assert one != two


def test_a_dispatch_rule_changes_the_policy_for_one_routed_agent_only() -> None:
    # Given the support agent's Telegram group uses per-user sessions, everything else per chat
    policy = load_policy({
        "dimensions": ["chat"],
        "rules": [{"name": "support group",
                   "when": {"agent": "support", "platform": "telegram",
                            "chat": f"group:{SUPPORT_GROUP}"},
                   "dimensions": ["chat", "sender"]}],
    })
    telegram = {"platform": "telegram", "space": None, "chat": SUPPORT_GROUP, "chat_type": "group"}
    # When two users write to the support agent in the support group
    alice = resolve(event(agent="support", sender="1", **telegram), policy)
    bob = resolve(event(agent="support", sender="2", **telegram), policy)
    # And the main agent sees the same group
    main_alice, main_bob = keys(policy, event(sender="1", **telegram),
                                event(sender="2", **telegram))
    # Then only the support traffic is per user, and the reasons name the rule
    assert alice.key != bob.key
    assert main_alice == main_bob
    assert any("rule 'support group' matched" in reason for reason in alice.reasons)


def test_identity_links_treat_aliases_as_one_sender() -> None:
    # Given john is known as slack:u123, u123 and legacy-user-42
    policy = load_policy({"dimensions": ["chat", "sender"],
                          "identity_links": {"john": ["slack:u123", "u123", "legacy-user-42"]}})
    # When those ids write in one Slack channel, next to another user
    aliases = keys(policy, event(sender="u123"), event(sender="legacy-user-42"))
    other = resolve(event(sender="u999"), policy).key
    # Then they are one sender, canonicalized as john
    assert aliases[0] == aliases[1]
    assert aliases[0].endswith("/person=john")
    assert other != aliases[0]


def test_identity_links_do_not_merge_slack_and_telegram_memory() -> None:
    # Given john is linked on both platforms
    policy = load_policy({"dimensions": ["chat", "sender"],
                          "identity_links": {"john": ["slack:u123", "telegram:42"]}})
    # When john writes on Slack and on Telegram
    slack = resolve(event(sender="u123"), policy).key
    telegram = resolve(event(platform="telegram", space=None, chat="-1", chat_type="group",
                             sender="42"), policy).key
    # Then that is expected: the channel (platform) stays part of the baseline
    assert slack != telegram


def test_sessions_are_always_separated_by_agent_and_account() -> None:
    # Given the broadest policy, dimensions []
    policy = load_policy({"dimensions": []})
    # When two agents and two bot accounts see the same chat
    main, other_agent, other_account = keys(policy, event(), event(agent="helper"),
                                            event(account="bot-2"))
    # Then no two of them share
    assert len({main, other_agent, other_account}) == 3
