"""OpenClaw's `session` block (JSON5 config) as a convlog policy.

Read from OpenClaw's config types (`src/config/types.base.ts` `SessionConfig`): dmScope
(default `main`), mainKey, identityLinks, reset / resetByType / resetByChannel,
resetTriggers. Group chats are one session per chat and threads their own session, as
OpenClaw keys them; a named Telegram account's DMs are per account when dmScope is main.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.gateways.conversion import (
    Conversion,
    ignored,
    mapping,
    require_object,
    reset_section,
)

_DM_SCOPES = ("main", "per-peer", "per-channel-peer", "per-account-channel-peer")
_SESSION_REASONS = {
    "store": "where OpenClaw keeps sessions.json; import it with `convlog import openclaw`",
    "typingMode": "typing indicators are the gateway's business",
    "typingIntervalSeconds": "typing indicators are the gateway's business",
    "sendPolicy": "who may be sent to is the gateway's business",
    "agentToAgent": "agent-to-agent messaging is the gateway's business",
    "maintenance": "store pruning: convlog never deletes history (see `convlog retention`)",
    "threadBindings": "thread bindings route to agents; convlog takes the agent from each event",
    "scope": "the old global/per-sender switch; dmScope replaced it",
    "resetByType": "convlog resets every session alike; per chat type resets are not expressible",
    "resetByChannel": "convlog resets every session alike; per channel resets are not expressible",
    "parentForkMaxTokens": "thread forking budgets are the gateway's; see threads.inherit_parent",
}


def convert(data: Mapping[str, Any]) -> Conversion:
    """The convlog policy reproducing OpenClaw's grouping, with a warning per lost setting."""
    config = require_object(data, "OpenClaw")
    conversion = Conversion("openclaw")
    policy = conversion.policy
    policy["name"] = "from-openclaw"
    policy["dimensions"] = ["chat"]
    session = mapping(config.get("session"), "session", conversion)
    dm_scope = session.get("dmScope", "main")
    if dm_scope not in _DM_SCOPES:
        conversion.warn("INVALID_SETTING", "session.dmScope",
                        f"{dm_scope!r} is not a dmScope OpenClaw knows; main is assumed")
        dm_scope = "main"
    policy["dm_scope"] = dm_scope
    if dm_scope == "main":
        # OpenClaw keys the DMs of a named (not default) Telegram account per account
        # even under main (extensions/telegram bot-message-context.named-account-dm.test.ts).
        policy["account_dm_scopes"] = {"telegram:*": "per-account-channel-peer"}
    main_key = session.get("mainKey")
    if isinstance(main_key, str) and main_key.strip() and main_key.strip().lower() != "main":
        policy["gateways"] = {"openclaw": {"main_key": main_key.strip().lower()}}
    links = mapping(session.get("identityLinks"), "session.identityLinks", conversion)
    if links:
        policy["identity_links"] = {str(name): [str(i) for i in ids]
                                    for name, ids in links.items()
                                    if isinstance(ids, list) and ids}
    reset = mapping(session.get("reset"), "session.reset", conversion)
    converted = reset_section(conversion, reset.get("mode"), reset.get("atHour"),
                              reset.get("idleMinutes", session.get("idleMinutes")),
                              "session.reset")
    triggers = session.get("resetTriggers")
    if isinstance(triggers, list) and triggers:
        converted["triggers"] = [str(t) for t in triggers]
    if converted:
        policy["reset"] = converted
    if session.get("reset") is not None or session.get("idleMinutes") is not None:
        conversion.warn("RESET_TIME_ZONE", "session.reset.atHour",
                        "OpenClaw resets at the gateway host's local hour; convlog uses UTC "
                        "unless reset.timezone is set: add the host's zone to the policy")
    handled = {"dmScope", "mainKey", "identityLinks", "reset", "resetTriggers", "idleMinutes"}
    ignored(conversion, session, "session.", handled, _SESSION_REASONS)
    if config.get("bindings"):
        conversion.warn("AGENT_ROUTING", "bindings",
                        "bindings choose the agent; convlog takes the agent from each event, "
                        "so keep routing in the gateway")
    return conversion

