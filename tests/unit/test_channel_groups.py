"""Seed 004 (OpenClaw #20078): channel groups share one session; everything else is unaffected."""

from __future__ import annotations

from typing import Any

import pytest

from eventlog.events import Event
from projections.errors import PolicyError
from projections.policy import Policy, check_policy, load_policy
from projections.resolver import resolve

PLANNING, DEV, ART, RANDOM = "123456789", "987654321", "555555555", "444444444"
STUDIO = {"channel_groups": {"studio-unified": [
    f"discord:channel:{PLANNING}", f"discord:channel:{DEV}", f"discord:{ART}"]}}


def event(**fields: Any) -> Event:
    base = {"type": "message.received", "agent": "main", "platform": "discord",
            "space": "1234567890", "chat_type": "channel", "sender": "1111",
            "message_id": "m1", "text": "hello", "occurred_at": "2026-03-01T12:00:00Z"}
    return Event.model_validate({**base, **fields})


def test_grouped_channels_share_one_session() -> None:
    # Given #planning, #dev and #art grouped as studio-unified
    policy = load_policy(STUDIO)
    # When the agent is addressed in #planning and then in #dev
    planning = resolve(event(chat=PLANNING), policy)
    dev = resolve(event(chat=DEV), policy)
    # Then it does not contradict itself: one session, OpenClaw's channel:<groupName> key
    assert planning.key == dev.key == resolve(event(chat=ART), policy).key
    assert planning.legacy["openclaw"] == "agent:main:discord:channel:studio-unified"
    assert any("channel group 'studio-unified'" in reason for reason in planning.reasons)


def test_ungrouped_channels_keep_their_own_session() -> None:
    # Given the studio group
    policy = load_policy(STUDIO)
    # When someone writes in #random, which is not listed
    random = resolve(event(chat=RANDOM), policy)
    # Then it behaves exactly as without the group
    assert random.key == resolve(event(chat=RANDOM), load_policy({})).key
    assert random.key != resolve(event(chat=PLANNING), policy).key


@pytest.mark.parametrize("dm_scope", ["main", "per-channel-peer"])
def test_dms_are_unaffected_by_groups(dm_scope: str) -> None:
    # Given the studio group, with either DM scope
    policy = load_policy({**STUDIO, "dm_scope": dm_scope})
    # When the same user DMs the agent, even from a chat id that is listed in the group
    dm = resolve(event(chat=PLANNING, chat_type="dm", space=None), policy)
    # Then DM routing follows dm_scope, not the group
    assert dm.key == resolve(event(chat=PLANNING, chat_type="dm", space=None),
                             load_policy({"dm_scope": dm_scope})).key
    assert "group" not in dm.key


def test_threads_stay_separate_unless_listed() -> None:
    # Given the studio group, plus a second policy that also lists thread 777
    policy = load_policy(STUDIO)
    listed = load_policy({"channel_groups": {"studio-unified": [
        f"discord:{PLANNING}", f"discord:{DEV}", "discord:777"]}})
    # When messages arrive in thread 777 of #planning
    thread = resolve(event(chat=PLANNING, topic="777"), policy)
    joined = resolve(event(chat=PLANNING, topic="777"), listed)
    # Then the thread keeps its own session, unless it is explicitly listed in the group
    assert thread.is_thread and thread.key != resolve(event(chat=PLANNING), policy).key
    assert joined.key == resolve(event(chat=DEV), listed).key


def test_a_chat_in_two_groups_is_refused() -> None:
    # Given #dev listed in two groups, once with OpenClaw's channel: prefix
    data = {"channel_groups": {"studio": [f"discord:{DEV}"], "eng": [f"discord:channel:{DEV}"]}}
    # When the policy is loaded
    with pytest.raises(PolicyError) as refused:
        load_policy(data)
    # Then it is refused with CHANNEL_GROUP_OVERLAP
    assert [d.code for d in refused.value.diagnostics] == ["CHANNEL_GROUP_OVERLAP"]


def test_empty_and_malformed_channel_ids_are_refused() -> None:
    # Given group entries without a platform or without an id, and an empty group
    data = {"channel_groups": {"a": ["123"], "b": ["discord:"], "c": []}}
    # When the policy is checked
    codes = [d.code for d in check_policy(data)]
    # Then each is reported as INVALID_CHANNEL_GROUP
    assert codes == ["INVALID_CHANNEL_GROUP"] * 3


def test_a_policy_built_in_code_with_overlapping_groups_cannot_be_resolved() -> None:
    # Given a policy constructed directly, skipping load_policy's checks
    policy = Policy.model_validate({"channel_groups": {"a": ["discord:1"], "b": ["discord:1"]}})
    # When it is used
    with pytest.raises(PolicyError) as refused:
        resolve(event(chat="1"), policy)
    # Then the resolver refuses it with the same code
    assert refused.value.code == "INVALID_POLICY"
    assert refused.value.diagnostics[0].code == "CHANNEL_GROUP_OVERLAP"
