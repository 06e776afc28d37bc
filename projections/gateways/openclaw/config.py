"""OpenClaw's `session` block (JSON5 config) as a convlog policy.

Read from OpenClaw's config types (`src/config/types.base.ts` `SessionConfig`): dmScope
(default `main`), mainKey, identityLinks, reset / resetByType / resetByChannel,
resetTriggers. Group chats are one session per chat and threads their own session, as
OpenClaw keys them; a named Telegram account's DMs are per account when dmScope is main;
Matrix's `dm.sessionScope: per-room` (on the channel or one account) keys each DM by its
room, convlog's dm_scope per-chat for those accounts.
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
from projections.gateways.view import normalize_account_id

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
    account_scopes: dict[str, str] = {}
    if dm_scope == "main":
        # OpenClaw keys the DMs of a named (not default) Telegram account per account
        # even under main (extensions/telegram bot-message-context.named-account-dm.test.ts).
        account_scopes["telegram:*"] = "per-account-channel-peer"
    account_scopes.update(_matrix_dm_scopes(config, dm_scope, conversion))
    if account_scopes:
        policy["account_dm_scopes"] = account_scopes
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



def _matrix_dm_scopes(config: Mapping[str, Any], dm_scope: str,
                      conversion: Conversion) -> dict[str, str]:
    """`channels.matrix[.accounts.<id>].dm.sessionScope`: per-user (the default) follows
    dmScope; per-room keys each DM by its room whatever dmScope says (the Matrix adapter's
    session route), which is dm_scope per-chat."""
    channels = mapping(config.get("channels"), "channels", conversion)
    matrix = mapping(channels.get("matrix"), "channels.matrix", conversion)
    scopes: dict[str, str] = {}
    channel_wide = _room_scope(matrix, "channels.matrix", conversion)
    if channel_wide == "per-room":
        scopes["matrix:default"] = scopes["matrix:*"] = "per-chat"
    accounts = mapping(matrix.get("accounts"), "channels.matrix.accounts", conversion)
    for account_id, account in accounts.items():
        setting = f"channels.matrix.accounts.{account_id}"
        own = _room_scope(mapping(account, setting, conversion), setting, conversion)
        ref = f"matrix:{normalize_account_id(str(account_id))}"
        if own == "per-room":
            scopes[ref] = "per-chat"
        elif own == "per-user" and channel_wide == "per-room":
            scopes[ref] = dm_scope  # this account takes back the per-user default
    return scopes


def _room_scope(section: Mapping[str, Any], setting: str, conversion: Conversion) -> str | None:
    dm = mapping(section.get("dm"), f"{setting}.dm", conversion)
    scope = dm.get("sessionScope")
    if scope is None or scope in ("per-user", "per-room"):
        return scope
    conversion.warn("INVALID_SETTING", f"{setting}.dm.sessionScope",
                    f"{scope!r} is not a Matrix DM session scope (per-user, per-room); "
                    "per-user is assumed")
    return None
