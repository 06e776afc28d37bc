"""OpenClaw's key quirks, each rendered through `policy convert` + `resolve` and read back.

Each case restates an assertion of OpenClaw's own suite (its inputs, the key it expects;
written here, not copied) and names the test file it comes from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.events import Event
from projections.gateways.openclaw import keys as openclaw
from projections.gateways.view import LegacyView
from projections.legacy_keys import interpret_key
from projections.policy import load_policy
from projections.resolver import resolve
from tests.unit.legacy_cases import BASE_EVENT, KeyCase, convert, resolved_legacy

OUTBOUND = "openclaw src/infra/outbound/outbound-session.test.ts"
TG_NAMED = "openclaw extensions/telegram/src/bot-message-context.named-account-dm.test.ts"
MATRIX = "openclaw extensions/matrix/src/matrix/monitor/handler.test.ts"
PER_CHANNEL_PEER = {"session": {"dmScope": "per-channel-peer"}}


def _round_trip(case: KeyCase, tmp_path: Path,
                capsys: pytest.CaptureFixture[str]) -> tuple[str | None, bool, str | None]:
    """(the rendered key, whether it reads back to the same session, that session's id)."""
    rendered = resolved_legacy("openclaw", case, tmp_path, capsys)
    policy = load_policy(json.loads((tmp_path / "policy.json").read_text(encoding="utf-8")))
    event = {**BASE_EVENT, **case.event}
    if event["type"] == "message.sent":
        event.setdefault("reply_to", "m0")
    session = str(resolve(Event.model_validate(event), policy).session_id)
    assert rendered is not None
    first = interpret_key(rendered, policy, "openclaw")[0]
    back = None if first.resolution is None else str(first.resolution.session_id)
    return rendered, first.renders_back and back == session, back


def test_a_named_telegram_account_dm_keeps_its_per_account_key_under_dm_scope_main(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # TG_NAMED "uses a per-account session key for named-account DMs": no binding, no
    # dmScope (main), account atlas, private chat 814912386 from 814912386
    case = KeyCase(f"{TG_NAMED} per-account session key", {},
                   {"platform": "telegram", "account": "atlas", "chat_type": "dm",
                    "chat": "814912386", "sender": "814912386"},
                   "agent:main:telegram:atlas:direct:814912386")
    key, same_session, _ = _round_trip(case, tmp_path, capsys)
    assert key == case.expected
    # And read back it names the account and the peer, and lands in that very session
    parsed = openclaw.parse(key)
    assert parsed is not None
    assert (parsed.scope, parsed.account, parsed.sender) == (
        "per-account-channel-peer", "atlas", "814912386")
    assert same_session


def test_an_outbound_telegram_dm_topic_is_keyed_thread_topic(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # OUTBOUND "Telegram DM with topic": per-channel-peer, target 123456789:topic:99
    case = KeyCase(f"{OUTBOUND} Telegram DM with topic", PER_CHANNEL_PEER,
                   {"type": "message.sent", "platform": "telegram", "chat_type": "dm",
                    "chat": "123456789", "topic": "99"},
                   "agent:main:telegram:direct:123456789:thread:99")
    assert resolved_legacy("openclaw", case, tmp_path, capsys) == case.expected
    # And read back it names the DM, its topic and its peer, and says which route keys so
    parsed = openclaw.parse(case.expected)
    assert parsed is not None
    assert (parsed.chat_type, parsed.chat, parsed.topic, parsed.sender) == (
        "dm", "123456789", "99", "123456789")
    assert any("outbound" in note for note in parsed.notes)


def test_an_inbound_telegram_dm_topic_keeps_its_chat_in_the_thread_suffix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # openclaw extensions/telegram/src/bot-message-context.dm-threads.test.ts "uses thread
    # session key when Telegram reports bot topics enabled": chat 1234, thread 42, from 42
    case = KeyCase("dm-threads", {}, {"platform": "telegram", "chat_type": "dm",
                                      "chat": "1234", "sender": "42", "topic": "42"},
                   "agent:main:main:thread:1234:42")
    key, same_session, _ = _round_trip(case, tmp_path, capsys)
    assert key == case.expected and same_session


def test_an_outbound_discord_route_to_a_channel_id_has_no_thread_suffix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # OUTBOUND "uses resolved Discord channel targets to route bare numeric ids as channels
    # without thread suffixes": per-channel-peer, target 456 (a channel), threadId 789
    case = KeyCase(f"{OUTBOUND} Discord channel without thread suffix", PER_CHANNEL_PEER,
                   {"type": "message.sent", "platform": "discord", "chat_type": "channel",
                    "chat": "456", "topic": "789"}, "agent:main:discord:channel:456")
    assert resolved_legacy("openclaw", case, tmp_path, capsys) == case.expected
    # And read back it is the channel itself, which renders back to the same key
    parsed = openclaw.parse(case.expected)
    assert parsed is not None and (parsed.chat, parsed.topic) == ("456", None)
    policy = load_policy(json.loads((tmp_path / "policy.json").read_text(encoding="utf-8")))
    assert interpret_key(case.expected, policy, "openclaw")[0].renders_back
    # While an inbound message of the thread is keyed by the thread as a channel of its own
    inbound = KeyCase("inbound", PER_CHANNEL_PEER,
                      {"platform": "discord", "chat_type": "channel", "chat": "456",
                       "topic": "789", "sender": "u1"}, "agent:main:discord:channel:789")
    (tmp_path / "in").mkdir()
    assert resolved_legacy("openclaw", inbound, tmp_path / "in", capsys) == inbound.expected


def test_a_matrix_room_is_a_channel_peer_and_its_thread_ids_keep_their_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # OUTBOUND "Matrix room target": room:!ops:matrix.example
    room = KeyCase(f"{OUTBOUND} Matrix room target", {},
                   {"platform": "matrix", "chat_type": "channel",
                    "chat": "!ops:matrix.example", "sender": "@alice:example.org"},
                   "agent:main:matrix:channel:!ops:matrix.example")
    key, same_session, _ = _round_trip(room, tmp_path, capsys)
    assert key == room.expected and same_session
    # openclaw src/auto-reply (parseSessionThreadInfo) "parses base session and thread/topic
    # ids": room !room:example.org, thread $AbC123:example.org (a colon inside the id)
    thread = KeyCase("parseSessionThreadInfo", {},
                     {"platform": "matrix", "chat_type": "channel", "chat": "!room:example.org",
                      "topic": "$AbC123:example.org", "sender": "@alice:example.org"},
                     "agent:main:matrix:channel:!room:example.org:thread:$AbC123:example.org")
    (tmp_path / "thread").mkdir()
    key, same_session, _ = _round_trip(thread, tmp_path / "thread", capsys)
    assert key == thread.expected and same_session
    parsed = openclaw.parse(thread.expected)
    assert parsed is not None
    assert (parsed.chat, parsed.topic) == ("!room:example.org", "$AbC123:example.org")
    # While other platforms' thread ids are lower case (Slack's, in session-key.test.ts)
    slack = KeyCase("slack", {}, {"platform": "slack", "chat_type": "channel", "chat": "C1",
                                  "topic": "AbC", "sender": "U1"},
                    "agent:main:slack:channel:c1:thread:abc")
    (tmp_path / "slack").mkdir()
    assert resolved_legacy("openclaw", slack, tmp_path / "slack", capsys) == slack.expected


def test_a_matrix_per_room_dm_key_reads_as_its_room() -> None:
    # MATRIX dmSessionScope "per-room": a DM in room !dm:example.org for agent ops is
    # recorded under agent:ops:matrix:channel:!dm:example.org
    parsed = openclaw.parse("agent:ops:matrix:channel:!dm:example.org")
    assert parsed is not None
    assert (parsed.agent, parsed.platform, parsed.chat, parsed.chat_type) == (
        "ops", "matrix", "!dm:example.org", "channel")
    assert any("per-room" in note for note in parsed.notes)


def test_an_empty_channel_id_is_unknown_and_never_the_main_session(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # openclaw src/routing/session-key.ts buildAgentPeerSessionKey (its ports test it as
    # "Group peer with empty ID but not direct"): discord, peer kind channel, id ""
    view = LegacyView(kind="chat", agent="main", platform="discord", account="default",
                      chat="", chat_type="channel", grouping=(("chat", ""),))
    key = openclaw.render(view)
    assert key == "agent:main:discord:channel:unknown"
    # And an empty platform is unknown too, on a DM as on a chat
    dm = LegacyView(kind="dm", agent="main", platform="", account="default", chat="7",
                    chat_type="dm", sender="7")
    assert openclaw.render(dm) == "agent:main:unknown:direct:7"
    # And read back it names a chat, not every DM of the agent
    parsed = openclaw.parse(key)
    assert parsed is not None
    assert (parsed.scope, parsed.chat, parsed.chat_type) == ("chat", "unknown", "channel")
    policy_file = convert("openclaw", {}, tmp_path, capsys)
    policy = load_policy(json.loads(policy_file.read_text(encoding="utf-8")))
    main = interpret_key("agent:main:main", policy, "openclaw")[0].resolution
    unknown = interpret_key(key, policy, "openclaw")[0].resolution
    assert main is not None and unknown is not None
    assert main.session_id != unknown.session_id


# MATRIX "resolves shared DM collision notices for per-room sessions" (and the test
# "skips the shared-session notice when Matrix DMs are isolated per room"): agent ops,
# account ops, a DM from @user:example.org in room !dm:example.org, dmSessionScope per-room
MATRIX_DM = {"agent": "ops", "platform": "matrix", "account": "ops", "chat_type": "dm",
             "chat": "!dm:example.org", "sender": "@user:example.org"}
PER_ROOM = {"channels": {"matrix": {"dm": {"sessionScope": "per-room"}}}}


def test_a_matrix_dm_under_the_per_room_scope_is_keyed_by_its_room_as_a_channel(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = KeyCase(f"{MATRIX} per-room", PER_ROOM, MATRIX_DM,
                   "agent:ops:matrix:channel:!dm:example.org")
    # Given OpenClaw's config with Matrix DMs per room, converted
    # When the DM is resolved
    key = resolved_legacy("openclaw", case, tmp_path, capsys)
    # Then its key is the room's, as a channel peer, whatever dmScope says (main here)
    assert key == case.expected
    policy = load_policy(json.loads((tmp_path / "policy.json").read_text(encoding="utf-8")))
    assert policy.dm_scope == "main"
    assert policy.account_dm_scopes == {"matrix:default": "per-chat", "matrix:*": "per-chat",
                                        "telegram:*": "per-account-channel-peer"}
    # And another person writing in that room is in the same session, while the same
    # person's DM in another room is not: the room, not the peer, is the session
    dm = resolve(Event.model_validate({**BASE_EVENT, **MATRIX_DM}), policy)
    other_sender = resolve(Event.model_validate(
        {**BASE_EVENT, **MATRIX_DM, "sender": "@alice:example.org"}), policy)
    other_room = resolve(Event.model_validate(
        {**BASE_EVENT, **MATRIX_DM, "chat": "!elsewhere:example.org"}), policy)
    assert dm.session_id == other_sender.session_id != other_room.session_id
    # And read back, one reading is that room's DM (the other reads it as a room of many,
    # which the key alone cannot rule out); like every OpenClaw channel key it names no
    # account, so it lands in that room's DM session of the default account
    readings = {r.parsed.scope: r for r in interpret_key(key, policy, "openclaw")}
    assert set(readings) == {"chat", "per-room"}
    room = readings["per-room"]
    assert room.renders_back and room.resolution is not None
    assert (room.parsed.chat_type, room.parsed.chat) == ("dm", "!dm:example.org")
    on_default = resolve(Event.model_validate(
        {**BASE_EVENT, **MATRIX_DM, "account": "default"}), policy)
    assert room.resolution.session_id == on_default.session_id


def test_a_matrix_dm_under_the_default_per_user_scope_follows_dm_scope(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # MATRIX "records thread context with flat DM routing": the same DM with no per-room
    # setting is the agent's main DM session
    case = KeyCase(f"{MATRIX} flat DM routing", {}, MATRIX_DM, "agent:ops:main")
    assert resolved_legacy("openclaw", case, tmp_path, capsys) == case.expected
    # And its key reads back as nothing but a DM
    policy = load_policy(json.loads((tmp_path / "policy.json").read_text(encoding="utf-8")))
    assert [r.parsed.scope for r in interpret_key(
        "agent:ops:matrix:channel:!dm:example.org", policy, "openclaw")] == ["chat"]


def test_one_matrix_account_may_key_its_dms_per_room(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given per-room DMs for account ops only (channels.matrix.accounts.ops.dm), and the
    # channel-wide per-room setting taken back by account ops in a second config
    only_ops = {"channels": {"matrix": {"accounts": {"ops": {
        "dm": {"sessionScope": "per-room"}}}}}}
    ops = KeyCase("per-account", only_ops, MATRIX_DM, "agent:ops:matrix:channel:!dm:example.org")
    assert resolved_legacy("openclaw", ops, tmp_path, capsys) == ops.expected
    other = KeyCase("per-account", only_ops, {**MATRIX_DM, "account": "default"},
                    "agent:ops:main")
    (tmp_path / "default").mkdir()
    assert resolved_legacy("openclaw", other, tmp_path / "default", capsys) == other.expected
    taken_back = {"channels": {"matrix": {"dm": {"sessionScope": "per-room"}, "accounts": {
        "ops": {"dm": {"sessionScope": "per-user"}}}}}}
    back = KeyCase("per-account", taken_back, MATRIX_DM, "agent:ops:main")
    (tmp_path / "back").mkdir()
    assert resolved_legacy("openclaw", back, tmp_path / "back", capsys) == back.expected


def test_a_per_chat_dm_has_no_openclaw_key_off_matrix() -> None:
    # Only Matrix's adapter keys a DM by its chat: elsewhere OpenClaw has no such key
    view = LegacyView(kind="dm", agent="main", platform="slack", account="default",
                      chat="D1", chat_type="dm", sender="U1", dm_scope="per-chat")
    assert openclaw.render(view) is None
    matrix = LegacyView(kind="dm", agent="main", platform="matrix", account="default",
                        chat="!Room:Example.org", chat_type="dm", sender="@u:example.org",
                        dm_scope="per-chat", topic="$Thread:example.org")
    assert openclaw.render(matrix) == (
        "agent:main:matrix:channel:!room:example.org:thread:$Thread:example.org")
