"""OpenClaw's own key assertions, through `convlog policy convert --from openclaw` + `resolve`.

Each case restates one `expect(...sessionKey).toBe(...)` of OpenClaw's test suite as an
address and the key OpenClaw builds for it (written here, not copied; the source is
cited). `maps=False` cases are ones convlog cannot reproduce; they are asserted to differ
so that the measured share stays honest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from projections.gateways.openclaw import keys as openclaw
from tests.unit.legacy_cases import KeyCase, resolved_legacy, share

ROUTE = "openclaw src/routing/resolve-route.test.ts"
KEYS = "openclaw src/routing/session-key.test.ts"
TG_THREADS = "openclaw extensions/telegram/src/bot-message-context.dm-threads.test.ts"
TG_NAMED = "openclaw extensions/telegram/src/bot-message-context.named-account-dm.test.ts"
OUTBOUND = "openclaw src/infra/outbound/outbound-session tests (resolveOutboundSessionRoute)"

ALICE = {"alice": ["telegram:111111111", "discord:222222222222222222"]}
WA_DM = {"platform": "whatsapp", "chat_type": "dm", "chat": "+15551234567",
         "sender": "+15551234567"}
TG_DM = {"platform": "telegram", "chat_type": "dm", "chat": "7550356539",
         "sender": "7550356539"}
NAMED = {"platform": "telegram", "account": "atlas", "chat_type": "dm", "chat": "814912386",
         "sender": "814912386"}
TG_FORUM = {"platform": "telegram", "chat_type": "group", "chat": "-1001234567890",
            "sender": "42"}
TG_DM_1234 = {"platform": "telegram", "chat_type": "dm", "chat": "1234", "sender": "42"}

CASES = [
    KeyCase(f"{ROUTE} defaults to main/default", {}, WA_DM, "agent:main:main"),
    KeyCase(f"{ROUTE} dmScope=per-peer", {"session": {"dmScope": "per-peer"}}, WA_DM,
            "agent:main:direct:+15551234567"),
    KeyCase(f"{ROUTE} dmScope=per-channel-peer", {"session": {"dmScope": "per-channel-peer"}},
            WA_DM, "agent:main:whatsapp:direct:+15551234567"),
    KeyCase(f"{ROUTE} identityLinks per-peer",
            {"session": {"dmScope": "per-peer", "identityLinks": ALICE}},
            {"platform": "telegram", "chat_type": "dm", "chat": "111111111",
             "sender": "111111111"}, "agent:main:direct:alice"),
    KeyCase(f"{ROUTE} identityLinks per-channel-peer",
            {"session": {"dmScope": "per-channel-peer", "identityLinks": ALICE}},
            {"platform": "discord", "chat_type": "dm", "chat": "222222222222222222",
             "sender": "222222222222222222"}, "agent:main:discord:direct:alice"),
    KeyCase(f"{ROUTE} peer binding wins over account binding", {},
            {"agent": "a", "platform": "whatsapp", "account": "biz", "chat_type": "dm",
             "chat": "+1000", "sender": "+1000"}, "agent:a:main"),
    KeyCase(f"{ROUTE} discord channel peer binding", {},
            {"agent": "chan", "platform": "discord", "space": "g1", "chat_type": "channel",
             "chat": "c1", "sender": "u1"}, "agent:chan:discord:channel:c1"),
    KeyCase(f"{ROUTE} coerces numeric peer ids", {},
            {"platform": "discord", "chat_type": "channel", "chat": 1468834856187203680,
             "sender": "u1"}, "agent:main:discord:channel:1468834856187203680"),
    KeyCase(f"{ROUTE} defaultAgentId is used", {},
            {"agent": "home", "platform": "whatsapp", "account": "biz", "chat_type": "dm",
             "chat": "+1000", "sender": "+1000"}, "agent:home:main"),
    KeyCase(f"{ROUTE} per-account-channel-peer isolates",
            {"session": {"dmScope": "per-account-channel-peer"}},
            {**TG_DM, "account": "tasks"}, "agent:main:telegram:tasks:direct:7550356539"),
    KeyCase(f"{ROUTE} per-account-channel-peer default account",
            {"session": {"dmScope": "per-account-channel-peer"}}, TG_DM,
            "agent:main:telegram:default:direct:7550356539"),
    KeyCase(f"{KEYS} resolveSessionThreadInfo :thread:", {},
            {"platform": "slack", "chat_type": "channel", "chat": "C123",
             "topic": "1710000000.9999", "sender": "U1"},
            "agent:main:slack:channel:c123:thread:1710000000.9999"),
    KeyCase(f"{KEYS} resolveSessionThreadInfo :topic:", {},
            {"platform": "telegram", "chat_type": "group", "chat": "-1001", "topic": "42",
             "sender": "7"}, "agent:main:telegram:group:-1001:topic:42"),
    KeyCase(f"{KEYS} resolveThreadParentSessionKey", {},
            {"platform": "discord", "chat_type": "channel", "chat": "c1", "topic": "abc",
             "sender": "u1"}, "agent:main:discord:channel:c1:thread:abc", maps=False,
            why="OpenClaw's Discord adapter keys a thread as a channel of its own "
                "(agent:main:discord:channel:abc); this key is a hand-made parse input"),
    KeyCase(f"{TG_THREADS} DM thread with bot topics", {}, {**TG_DM_1234, "topic": "42"},
            "agent:main:main:thread:1234:42"),
    KeyCase(f"{TG_THREADS} DM without thread id", {}, TG_DM_1234, "agent:main:main"),
    KeyCase(f"{TG_THREADS} configured DM topic agent", {},
            {**TG_DM_1234, "agent": "support", "topic": "42"},
            "agent:support:main:thread:1234:42"),
    KeyCase(f"{TG_THREADS} DM topic without bot topic capability", {},
            {**TG_DM_1234, "agent": "support"}, "agent:support:main"),
    KeyCase(f"{TG_THREADS} forum group topic", {}, {**TG_FORUM, "topic": "99"},
            "agent:main:telegram:group:-1001234567890:topic:99"),
    KeyCase(f"{TG_THREADS} non-forum reply thread ignored", {}, TG_FORUM,
            "agent:main:telegram:group:-1001234567890"),
    KeyCase(f"{TG_NAMED} per-account session key", {}, NAMED,
            "agent:main:telegram:atlas:direct:814912386"),
    KeyCase(f"{TG_NAMED} isolates named accounts", {}, {**NAMED, "account": "skynet"},
            "agent:main:telegram:skynet:direct:814912386"),
    KeyCase(f"{TG_NAMED} identity-linked peer",
            {"session": {"identityLinks": {"alice-shared": ["telegram:814912386"]}}},
            {**NAMED, "chat": "999999999"}, "agent:main:telegram:atlas:direct:alice-shared"),
    KeyCase(f"{TG_NAMED} default-account DM unchanged", {},
            {**NAMED, "account": "default", "chat": "42", "sender": "42"}, "agent:main:main"),
    KeyCase(f"{OUTBOUND} Slack thread", {},
            {"type": "message.sent", "platform": "slack", "chat_type": "channel",
             "chat": "C123", "topic": "456"}, "agent:main:slack:channel:c123:thread:456"),
    KeyCase(f"{OUTBOUND} Telegram topic", {},
            {"type": "message.sent", "platform": "telegram", "chat_type": "group",
             "chat": "-100123456", "topic": "42"},
            "agent:main:telegram:group:-100123456:topic:42"),
    KeyCase(f"{OUTBOUND} Telegram username DM", {"session": {"dmScope": "per-channel-peer"}},
            {"type": "message.sent", "platform": "telegram", "chat_type": "dm",
             "chat": "@alice"}, "agent:main:telegram:direct:@alice"),
    KeyCase(f"{OUTBOUND} dmScope identity links",
            {"session": {"dmScope": "per-peer", "identityLinks": {"alice": ["discord:123"]}}},
            {"type": "message.sent", "platform": "discord", "chat_type": "dm", "chat": "123"},
            "agent:main:direct:alice"),
    KeyCase(f"{OUTBOUND} BlueBubbles group", {},
            {"type": "message.sent", "platform": "bluebubbles", "chat_type": "group",
             "chat": "ABC123"}, "agent:main:bluebubbles:group:abc123"),
    KeyCase(f"{OUTBOUND} Zalo Personal DM", {"session": {"dmScope": "per-channel-peer"}},
            {"type": "message.sent", "platform": "zalouser", "chat_type": "dm",
             "chat": "123456"}, "agent:main:zalouser:direct:123456"),
    KeyCase(f"{OUTBOUND} Slack mpim group", {},
            {"type": "message.sent", "platform": "slack", "chat_type": "group",
             "chat": "G123"}, "agent:main:slack:group:g123"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_openclaw_key_assertion(case: KeyCase, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    # Given OpenClaw's config converted by `convlog policy convert --from openclaw`
    # When the address of the case is resolved with `convlog resolve`
    found = resolved_legacy("openclaw", case, tmp_path, capsys)
    # Then the OpenClaw key is the one OpenClaw's own test expects (or, not mapped, differs)
    if case.maps:
        assert found == case.expected
    else:
        assert found != case.expected, case.why


def test_share_of_openclaw_assertions_that_hold(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # Given every current-format key assertion gathered from OpenClaw's suite
    # When each is resolved the way a user would
    results = []
    for index, case in enumerate(CASES):
        (tmp_path / str(index)).mkdir()
        results.append(resolved_legacy("openclaw", case, tmp_path / str(index), capsys)
                       == case.expected)
    measured = share(results)
    print(f"openclaw: {sum(results)}/{len(results)} = {measured:.0%}")
    # Then at least the bar of 90 % hold
    assert measured >= 0.9


@pytest.mark.parametrize(("key", "chat_type", "chat", "topic", "sender"), [
    # src/routing/session-key.test.ts deriveSessionChatType / resolveSessionThreadInfo
    ("agent:main:discord:direct:user1", "dm", "user1", None, "user1"),
    ("agent:main:telegram:group:g1", "group", "g1", None, None),
    ("agent:main:discord:channel:c1", "channel", "c1", None, None),
    ("agent:main:slack:channel:c123:thread:1710000000.9999", "channel", "c123",
     "1710000000.9999", None),
    ("agent:main:telegram:group:-1001:topic:42", "group", "-1001", "42", None),
    ("agent:main:discord:channel:c1:thread:abc", "channel", "c1", "abc", None),
    # src/routing/resolve-route.test.ts inbound last route keys
    ("agent:main:telegram:atlas:direct:123", "dm", "123", None, "123"),
])
def test_openclaw_keys_parse_back(key: str, chat_type: str, chat: str, topic: str | None,
                                  sender: str | None) -> None:
    # When an OpenClaw key is read back
    parsed = openclaw.parse(key)
    # Then it names the chat, thread and sender OpenClaw built it from
    assert parsed is not None
    assert (parsed.chat_type, parsed.chat, parsed.topic, parsed.sender) == (
        chat_type, chat, topic, sender)


def test_non_chat_keys_are_recognised_but_name_no_chat() -> None:
    # src/routing/session-key.test.ts isCronSessionKey / getSubagentDepth
    for key in ("agent:main:cron:job-1", "agent:main:subagent:parent:subagent:child"):
        parsed = openclaw.parse(key)
        assert parsed is not None and not parsed.chat_session
