"""Seed 002 (OpenClaw guide): guild-wide sessions, a #logs override, a thread and a privacy zone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventlog.events import Event
from projections.policy import check_policy, load_policy
from projections.resolver import resolve

GUILD = "1234567890"
GENERAL, REQUESTS, LOGS, SENSITIVE = "1000000001", "1000000002", "1000000003", "1000000009"
GUILD_WIDE = Path(__file__).resolve().parents[2] / "examples" / "guild-wide.json"


def event(**fields: Any) -> Event:
    base = {"type": "message.received", "agent": "abc123", "platform": "discord",
            "space": GUILD, "chat_type": "channel", "sender": "1111111111",
            "message_id": "m1", "text": "hello", "occurred_at": "2026-03-01T12:00:00Z"}
    return Event.model_validate({**base, **fields})


@pytest.fixture
def policy() -> Any:
    return load_policy(GUILD_WIDE)


def test_general_and_requests_share_the_guild_session(policy: Any) -> None:
    # Given guild 1234567890 is guild-scoped
    # When the user asks about the CI pipeline in #general, then follows up in #requests
    general = resolve(event(chat=GENERAL, text="help me set up the CI pipeline"), policy)
    requests = resolve(event(chat=REQUESTS, text="status of my CI pipeline?"), policy)
    # Then the bot remembers: both are one session, OpenClaw's agent:<id>:discord:guild:<id>
    assert general.key == requests.key
    assert general.legacy["openclaw"] == f"agent:abc123:discord:guild:{GUILD}"
    assert any("guild-scoped" in reason for reason in general.reasons)


def test_logs_overridden_to_channel_scope_stays_alone(policy: Any) -> None:
    # Given #logs is overridden to channel scope
    # When something is posted in #logs
    logs = resolve(event(chat=LOGS), policy)
    # Then it keeps its own session, and the reasons name the override
    assert logs.key != resolve(event(chat=GENERAL), policy).key
    assert logs.legacy["openclaw"] == f"agent:abc123:discord:channel:{LOGS}"
    assert any("overrides space" in reason for reason in logs.reasons)


def test_a_thread_stays_separate_from_the_guild_session(policy: Any) -> None:
    # Given a thread created in #requests
    # When a message arrives in the thread
    thread = resolve(event(chat=REQUESTS, topic="2000000001"), policy)
    guild = resolve(event(chat=REQUESTS), policy)
    # Then thread bindings stay independent of the guild scope, with the guild as parent
    assert thread.key != guild.key
    assert thread.is_thread and thread.parent_key == guild.key
    assert thread.legacy["openclaw"] == "agent:abc123:discord:thread:2000000001"


def test_a_privacy_zone_never_shares_with_the_guild(policy: Any) -> None:
    # Given 1000000009 is a privacy zone of the guild-scoped guild
    # When an admin discusses something sensitive there
    sensitive = resolve(event(chat=SENSITIVE, text="the password is ..."), policy)
    # Then #general's session never sees it
    assert sensitive.key != resolve(event(chat=GENERAL), policy).key
    assert any("privacy zone" in reason for reason in sensitive.reasons)


def test_a_privacy_zone_wins_even_over_a_rule_that_merges_everything() -> None:
    # Given a rule that would put the whole account into one session
    policy = load_policy({
        "spaces": {f"discord:{GUILD}": {"session_scope": "guild", "privacy_zones": [SENSITIVE]}},
        "rules": [{"name": "everything", "when": {"platform": "discord"}, "dimensions": []}],
    })
    # When messages arrive in the privacy zone and in #general
    sensitive = resolve(event(chat=SENSITIVE), policy)
    general = resolve(event(chat=GENERAL), policy)
    # Then the zone still keeps to itself
    assert sensitive.key != general.key


def test_an_unconfigured_guild_keeps_per_channel_sessions(policy: Any) -> None:
    # Given guild 9876543210 has no settings
    # When messages arrive in two of its channels
    one = resolve(event(space="9876543210", chat="1"), policy)
    two = resolve(event(space="9876543210", chat="2"), policy)
    # Then they do not share
    assert one.key != two.key


def test_mixed_scopes_in_one_guild_are_allowed_but_warned() -> None:
    # Given the misconfiguration of pitfall 2: channels with different scopes in one guild
    data = {"spaces": {f"discord:{GUILD}": {"channels": {
        GENERAL: {"session_scope": "channel"}, REQUESTS: {"session_scope": "guild"}}}}}
    # When the policy is checked
    diagnostics = check_policy(data)
    # Then it is usable, with a SESSION_SCOPE_CONFLICT warning
    assert [(d.code, d.severity) for d in diagnostics] == [("SESSION_SCOPE_CONFLICT", "warning")]


def test_switching_back_to_channel_scope_needs_no_migration(policy: Any) -> None:
    # Given the same events, once under guild scope and once under the default
    default = load_policy({})
    events = [event(chat=GENERAL), event(chat=REQUESTS)]
    # When they are resolved under each policy
    guild_keys = {resolve(e, policy).key for e in events}
    channel_keys = {resolve(e, default).key for e in events}
    # Then the grouping is a pure function of the policy: no keys to move, no backups
    assert len(guild_keys) == 1 and len(channel_keys) == 2
