"""Hermes agent's own key assertions, via `convlog policy convert --from hermes` + `resolve`.

Each case restates one `assert build_session_key(...) == "..."` (or a session entry's
key) of Hermes's `tests/gateway/test_session.py` as an address and the key Hermes builds
(written here, cited by test name; the Discord auto-thread and Slack workspace cases come
from the later revisions of that file). Where the Hermes test compares two keys rather than
spelling one out, the expected key is what Hermes's `build_session_key` returns for that
test's inputs. `maps=False` cases cannot be reproduced and are asserted to differ; every
other case is also read back with `convlog resolve --key`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from projections.gateways.hermes import keys as hermes
from tests.unit.legacy_cases import KeyCase, convert, resolved_legacy, share
from workers.cli.main import main

SRC = "hermes-agent tests/gateway/test_session.py"
LID_FILE = {"whatsapp/session/lid-mapping-999999999999999.json":
            json.dumps("15551234567@s.whatsapp.net")}
SHARED = {"group_sessions_per_user": False}
WA_GROUP = {"platform": "whatsapp", "chat_type": "group", "chat": "120363000000000000@g.us"}
GUILD = {"platform": "discord", "chat_type": "group", "chat": "guild-123"}
TG_GROUP = {"platform": "telegram", "chat_type": "group", "chat": "-1002285219667"}
TG_THREAD = {**TG_GROUP, "topic": "17585"}
CHANNEL_1 = {"platform": "discord", "chat_type": "group", "chat": "channel-1"}
SLACK_THREAD = {"platform": "slack", "chat_type": "channel", "chat": "C123",
                "topic": "1700000000.000001"}


def dm(platform: str, chat: str, **more: str) -> dict[str, str]:
    return {"platform": platform, "chat_type": "dm", "chat": chat, "sender": chat, **more}


CASES = [
    KeyCase(f"{SRC} test_whatsapp_dm_uses_canonical_identifier", {},
            dm("whatsapp", "15551234567@s.whatsapp.net"), "agent:main:whatsapp:dm:15551234567"),
    KeyCase(f"{SRC} test_whatsapp_dm_aliases_share_one_session_key (lid)", {},
            dm("whatsapp", "999999999999999@lid"), "agent:main:whatsapp:dm:15551234567",
            files=LID_FILE),
    KeyCase(f"{SRC} test_whatsapp_dm_aliases_share_one_session_key (phone)", {},
            dm("whatsapp", "15551234567@s.whatsapp.net"), "agent:main:whatsapp:dm:15551234567",
            files=LID_FILE),
    KeyCase(f"{SRC} test_whatsapp_group_participant_aliases_share_session_key (lid)", {},
            {**WA_GROUP, "sender": "999999999999999@lid"},
            "agent:main:whatsapp:group:120363000000000000@g.us:15551234567", files=LID_FILE),
    KeyCase(f"{SRC} test_whatsapp_group_participant_aliases_share_session_key (phone)", {},
            {**WA_GROUP, "sender": "15551234567@s.whatsapp.net"},
            "agent:main:whatsapp:group:120363000000000000@g.us:15551234567", files=LID_FILE),
    KeyCase(f"{SRC} test_whatsapp_group_shared_sessions_untouched_by_canonicalisation", SHARED,
            {**WA_GROUP, "sender": "999999999999999@lid"},
            "agent:main:whatsapp:group:120363000000000000@g.us"),
    KeyCase(f"{SRC} test_store_creates_distinct_group_sessions_per_user (alice)", {},
            {**GUILD, "sender": "alice"}, "agent:main:discord:group:guild-123:alice"),
    KeyCase(f"{SRC} test_store_creates_distinct_group_sessions_per_user (bob)", {},
            {**GUILD, "sender": "bob"}, "agent:main:discord:group:guild-123:bob"),
    KeyCase(f"{SRC} test_store_shares_group_sessions_when_disabled_in_config (alice)", SHARED,
            {**GUILD, "sender": "alice"}, "agent:main:discord:group:guild-123"),
    KeyCase(f"{SRC} test_store_shares_group_sessions_when_disabled_in_config (bob)", SHARED,
            {**GUILD, "sender": "bob"}, "agent:main:discord:group:guild-123"),
    KeyCase(f"{SRC} test_telegram_dm_includes_chat_id", {}, dm("telegram", "99"),
            "agent:main:telegram:dm:99"),
    KeyCase(f"{SRC} test_distinct_dm_chat_ids_get_distinct_session_keys (99)", {},
            dm("telegram", "99"), "agent:main:telegram:dm:99"),
    KeyCase(f"{SRC} test_distinct_dm_chat_ids_get_distinct_session_keys (100)", {},
            dm("telegram", "100"), "agent:main:telegram:dm:100"),
    # A DM without a chat id is addressed by its sender in convlog, as Hermes falls back to it.
    KeyCase(f"{SRC} test_dm_without_chat_id_falls_back_to_user_id", {},
            dm("telegram", "jordan"), "agent:main:telegram:dm:jordan"),
    KeyCase(f"{SRC} test_dm_without_chat_id_distinct_users_do_not_collide (jordan)", {},
            dm("telegram", "jordan"), "agent:main:telegram:dm:jordan"),
    KeyCase(f"{SRC} test_dm_without_chat_id_distinct_users_do_not_collide (dima)", {},
            dm("telegram", "dima"), "agent:main:telegram:dm:dima"),
    KeyCase(f"{SRC} test_dm_without_chat_id_prefers_user_id_alt", {},
            dm("telegram", "primary"), "agent:main:telegram:dm:alt", maps=False,
            why="convlog events carry one sender id; Hermes's user_id_alt has no field"),
    KeyCase(f"{SRC} test_dm_without_chat_id_or_user_id_falls_back_to_thread_then_sink (thread)",
            {}, dm("telegram", "x", topic="7"), "agent:main:telegram:dm:7", maps=False,
            why="a convlog event always names its chat; a DM keyed by its thread alone is not"),
    KeyCase(f"{SRC} test_dm_without_chat_id_or_user_id_falls_back_to_thread_then_sink (sink)",
            {}, dm("telegram", "x"), "agent:main:telegram:dm", maps=False,
            why="a convlog event always names its chat; the per-platform sink has none"),
    KeyCase(f"{SRC} test_discord_group_includes_chat_id", {},
            {**GUILD, "type": "message.sent"}, "agent:main:discord:group:guild-123"),
    KeyCase(f"{SRC} test_group_sessions_are_isolated_per_user_when_user_id_present (alice)", {},
            {**GUILD, "sender": "alice"}, "agent:main:discord:group:guild-123:alice"),
    KeyCase(f"{SRC} test_group_sessions_are_isolated_per_user_when_user_id_present (bob)", {},
            {**GUILD, "sender": "bob"}, "agent:main:discord:group:guild-123:bob"),
    KeyCase(f"{SRC} test_group_sessions_can_be_shared_when_isolation_disabled (alice)", SHARED,
            {**GUILD, "sender": "alice"}, "agent:main:discord:group:guild-123"),
    KeyCase(f"{SRC} test_group_sessions_can_be_shared_when_isolation_disabled (bob)", SHARED,
            {**GUILD, "sender": "bob"}, "agent:main:discord:group:guild-123"),
    KeyCase(f"{SRC} test_group_thread_includes_thread_id", {},
            {**TG_THREAD, "type": "message.sent"},
            "agent:main:telegram:group:-1002285219667:17585"),
    KeyCase(f"{SRC} test_group_thread_sessions_are_shared_by_default (alice)", {},
            {**TG_THREAD, "sender": "alice"}, "agent:main:telegram:group:-1002285219667:17585"),
    KeyCase(f"{SRC} test_group_thread_sessions_are_shared_by_default (bob)", {},
            {**TG_THREAD, "sender": "bob"}, "agent:main:telegram:group:-1002285219667:17585"),
    KeyCase(f"{SRC} test_group_thread_sessions_can_be_isolated_per_user",
            {"thread_sessions_per_user": True}, {**TG_THREAD, "sender": "42"},
            "agent:main:telegram:group:-1002285219667:17585:42"),
    KeyCase(f"{SRC} test_non_thread_group_sessions_still_isolated_per_user (alice)", {},
            {**TG_GROUP, "sender": "alice"}, "agent:main:telegram:group:-1002285219667:alice"),
    KeyCase(f"{SRC} test_non_thread_group_sessions_still_isolated_per_user (bob)", {},
            {**TG_GROUP, "sender": "bob"}, "agent:main:telegram:group:-1002285219667:bob"),
    # The test asserts that Alice's and Bob's keys agree and hold neither name; a Discord
    # thread takes the `thread` slot, so the key is this one for the test's inputs.
    KeyCase(f"{SRC} test_discord_thread_sessions_shared_by_default (alice)", {},
            {**GUILD, "topic": "thread-456", "sender": "alice"},
            "agent:main:discord:thread:guild-123:thread-456"),
    KeyCase(f"{SRC} test_discord_thread_sessions_shared_by_default (bob)", {},
            {**GUILD, "topic": "thread-456", "sender": "bob"},
            "agent:main:discord:thread:guild-123:thread-456"),
    KeyCase(f"{SRC} test_dm_thread_sessions_not_affected", {},
            dm("telegram", "99", topic="topic-1"), "agent:main:telegram:dm:99:topic-1"),
    # Discord auto-threads: the message that opens a thread is keyed by the thread it opens
    # (Hermes's prospective_thread_id); in convlog that message carries it as its topic.
    KeyCase(f"{SRC} test_discord_prospective_thread_initiates_and_continues_one_session "
            "(initiating)", {}, {**CHANNEL_1, "topic": "msg-100", "sender": "cthulhu"},
            "agent:main:discord:thread:channel-1:msg-100"),
    KeyCase(f"{SRC} test_discord_prospective_thread_initiates_and_continues_one_session "
            "(follow-up)", {}, {**CHANNEL_1, "topic": "msg-100", "sender": "cthulhu",
                                "message_id": "m2"},
            "agent:main:discord:thread:channel-1:msg-100"),
    KeyCase(f"{SRC} test_discord_distinct_prospective_threads_are_distinct_sessions (first)",
            {}, {**CHANNEL_1, "topic": "msg-100", "sender": "cthulhu"},
            "agent:main:discord:thread:channel-1:msg-100"),
    KeyCase(f"{SRC} test_discord_distinct_prospective_threads_are_distinct_sessions (second)",
            {}, {**CHANNEL_1, "topic": "msg-200", "sender": "cthulhu"},
            "agent:main:discord:thread:channel-1:msg-200"),
    KeyCase(f"{SRC} test_real_thread_id_wins_over_prospective", {},
            {**CHANNEL_1, "topic": "real-thread", "sender": "cthulhu"},
            "agent:main:discord:thread:channel-1:real-thread"),
    KeyCase(f"{SRC} test_prospective_thread_shares_across_participants (alice)", {},
            {**CHANNEL_1, "topic": "msg-100", "sender": "alice"},
            "agent:main:discord:thread:channel-1:msg-100"),
    KeyCase(f"{SRC} test_prospective_thread_shares_across_participants (bob)", {},
            {**CHANNEL_1, "topic": "msg-100", "sender": "bob"},
            "agent:main:discord:thread:channel-1:msg-100"),
    # Slack workspaces (TestSlackWorkspaceSessionKeys): the workspace precedes the chat id.
    KeyCase(f"{SRC} test_dm_key_is_workspace_scoped_when_workspace_is_present (scoped)", {},
            {**dm("slack", "D123"), "sender": "U123", "space": "T_ALPHA"},
            "agent:main:slack:dm:T_ALPHA:D123"),
    KeyCase(f"{SRC} test_dm_key_is_workspace_scoped_when_workspace_is_present (unscoped)",
            {}, {**dm("slack", "D123"), "sender": "U123"}, "agent:main:slack:dm:D123"),
    KeyCase(f"{SRC} test_scope_less_legacy_entry_is_not_adopted_by_a_workspace (legacy)", {},
            {**SLACK_THREAD, "sender": "U123"},
            "agent:main:slack:channel:C123:1700000000.000001"),
    KeyCase(f"{SRC} test_scope_less_legacy_entry_is_not_adopted_by_a_workspace (routed)", {},
            {**SLACK_THREAD, "sender": "U123", "space": "T_BETA"},
            "agent:main:slack:channel:T_BETA:C123:1700000000.000001"),
    KeyCase(f"{SRC} test_matching_workspace_recovers_legacy_session_from_db", {},
            {**SLACK_THREAD, "sender": "U123", "space": "T_ALPHA"},
            "agent:main:slack:channel:T_ALPHA:C123:1700000000.000001"),
]
MAPPED = [case for case in CASES if case.maps]
# Read back: every mapped key of a message someone wrote (a reply carries no sender, so a
# per-user group's key without a user names no one a probe could stand for).
READ_BACK = [case for case in MAPPED if case.event.get("type") != "message.sent"]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hermes_key_assertion(case: KeyCase, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    # Given Hermes's settings converted by `convlog policy convert --from hermes`
    # When the address of the case is resolved with `convlog resolve`
    found = resolved_legacy("hermes", case, tmp_path, capsys)
    # Then the Hermes key is the one Hermes's own test expects (or, not mapped, differs)
    if case.maps:
        assert found == case.expected
    else:
        assert found != case.expected, case.why


def test_share_of_hermes_assertions_that_hold(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Given every key assertion of Hermes's session tests
    results = []
    for index, case in enumerate(CASES):
        (tmp_path / str(index)).mkdir()
        # When each is resolved through the converted settings
        results.append(resolved_legacy("hermes", case, tmp_path / str(index), capsys)
                       == case.expected)
    measured = share(results)
    print(f"hermes: {sum(results)}/{len(results)} = {measured:.0%}")
    # Then every shape that maps onto a convlog event holds (the rest are in docs/gateways.md)
    assert sum(results) == len(MAPPED)
    assert measured >= 0.9


@pytest.mark.parametrize("case", READ_BACK, ids=[case.name for case in READ_BACK])
def test_hermes_key_reads_back_to_an_address_that_renders_it(
        case: KeyCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the case's settings converted to a policy
    policy_file = convert("hermes", case.config, tmp_path, capsys, case.files)
    # When the key Hermes builds is read back with `convlog resolve --key`
    assert main(["resolve", "--key", case.expected, "--gateway", "hermes",
                 "--policy", str(policy_file), "--json"]) == 0
    readings = json.loads(capsys.readouterr().out)["readings"]
    # Then it names the case's chat (and workspace) and the policy renders that very key
    assert readings[0]["renders_back"], readings
    parsed = readings[0]["parsed"]
    assert parsed["platform"] == case.event["platform"]
    assert parsed["space"] == case.event.get("space")


@pytest.mark.parametrize(("raw", "canonical"), [
    # TestWhatsAppIdentifierPublicHelpers in the same file
    ("60123456789@s.whatsapp.net", "60123456789"), ("999999999999999@lid", "999999999999999"),
    ("60123456789:47@s.whatsapp.net", "60123456789"), ("+60123456789", "60123456789"),
    ("60123456789", "60123456789"), ("", ""),
])
def test_whatsapp_ids_are_canonical_as_hermes_makes_them(raw: str, canonical: str) -> None:
    assert hermes.canonical_whatsapp_id(raw) == canonical


def test_a_hermes_key_parses_back_by_the_settings_that_built_it() -> None:
    # Given a 6-part group key, read under the default settings and with per-user threads
    per_user = hermes.parse("agent:main:discord:group:guild-123:alice")
    thread = hermes.parse("agent:main:telegram:group:-1002285219667:17585",
                          group_sessions_per_user=False)
    # Then the 6th part is a user by default, a thread when groups are shared
    assert per_user is not None and (per_user.sender, per_user.topic) == ("alice", None)
    assert thread is not None and (thread.sender, thread.topic) == (None, "17585")


def test_after_the_thread_slot_the_part_is_the_thread_whatever_the_settings() -> None:
    # Given a Discord thread key, read under the default per-user settings
    parsed = hermes.parse("agent:main:discord:thread:channel-1:msg-100")
    # Then msg-100 is the thread, not a user; with a user after it, both are read
    assert parsed is not None and (parsed.chat, parsed.topic, parsed.sender) == (
        "channel-1", "msg-100", None)
    split = hermes.parse("agent:main:discord:thread:channel-1:msg-100:42",
                         thread_sessions_per_user=True)
    assert split is not None and (split.topic, split.sender) == ("msg-100", "42")


def test_a_slack_key_names_its_workspace_and_a_timestamp_is_a_thread() -> None:
    # Given Slack keys with and without a workspace (TestSlackWorkspaceSessionKeys)
    scoped = hermes.parse("agent:main:slack:channel:T_BETA:C123:1700000000.000001")
    legacy = hermes.parse("agent:main:slack:channel:C123:1700000000.000001")
    user = hermes.parse("agent:main:slack:group:T1:C1:UROOT")
    # Then the workspace becomes the space, a timestamp the thread, a user id the sender
    assert scoped is not None and (scoped.space, scoped.chat, scoped.topic, scoped.sender) \
        == ("T_BETA", "C123", "1700000000.000001", None)
    assert legacy is not None and (legacy.space, legacy.chat, legacy.topic) == (
        None, "C123", "1700000000.000001")
    assert user is not None and (user.space, user.chat, user.sender) == ("T1", "C1", "UROOT")
    # And only Slack keys carry a workspace: a Discord guild never joins a key
    discord = hermes.parse("agent:main:discord:group:T-guild:alice")
    assert discord is not None and (discord.space, discord.chat) == (None, "T-guild")
