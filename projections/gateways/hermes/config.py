"""Hermes agent's gateway settings (YAML or JSON) as a convlog policy.

Read from Hermes's `gateway/config.py`: `group_sessions_per_user` (default on: one
session per user in a group chat), `thread_sessions_per_user` (default off: a thread is
shared), the reset policy (`session_reset` / `default_reset_policy`: mode, at_hour,
idle_minutes; default both, 4, 1440) with per-type and per-platform overrides, and
`reset_triggers`. DMs are one session per chat. Settings may sit at the top level or
under `gateway`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.gateways.conversion import Conversion, mapping, require_object, reset_section
from projections.gateways.hermes.keys import canonical_whatsapp_id

_RESET_DEFAULTS = {"mode": "both", "at_hour": 4, "idle_minutes": 1440}
_UNSUPPORTED = {
    "reset_by_type": "convlog resets every session alike; Hermes's per chat type resets "
                     "(threads do not auto-reset by default) are not expressible",
    "reset_by_platform": "convlog resets every session alike; per platform resets are not "
                         "expressible",
    "session_store_max_age_days": "convlog never prunes history by age (see `convlog retention`)",
}


def convert(data: Mapping[str, Any], *,
            lid_mappings: Mapping[str, str] | None = None) -> Conversion:
    """The convlog policy reproducing Hermes's grouping, with a warning per lost setting.

    `lid_mappings` (WhatsApp LID -> phone JID, from `whatsapp/session/lid-mapping-<lid>.json`
    beside the config) become identity links, so a member's two ids stay one person.
    """
    config = require_object(data, "Hermes agent")
    conversion = Conversion("hermes")
    settings: dict[str, Any] = dict(config)
    gateway = config.get("gateway")
    if isinstance(gateway, dict):
        settings.update(gateway)
    per_user = _flag(settings, "group_sessions_per_user", True, conversion)
    per_thread_user = _flag(settings, "thread_sessions_per_user", False, conversion)
    policy = conversion.policy
    policy["name"] = "from-hermes"
    policy["dimensions"] = ["chat", "sender"] if per_user else ["chat"]
    policy["dm_scope"] = "per-channel-peer"
    if per_thread_user != per_user:
        policy["threads"] = {"per_sender": per_thread_user}
    reset = mapping(settings.get("session_reset", settings.get("default_reset_policy")),
                    "session_reset", conversion) or dict(_RESET_DEFAULTS)
    converted = reset_section(conversion, reset.get("mode", "both"), reset.get("at_hour", 4),
                              reset.get("idle_minutes", 1440), "session_reset")
    triggers = settings.get("reset_triggers")
    if isinstance(triggers, list) and triggers:
        converted["triggers"] = [str(t) for t in triggers]
    policy["reset"] = converted
    if converted.get("mode") in ("daily", "both"):
        conversion.warn("RESET_TIME_ZONE", "session_reset.at_hour",
                        "Hermes resets at the gateway host's local hour; convlog uses UTC "
                        "unless reset.timezone is set: add the host's zone to the policy")
    for key, why in _UNSUPPORTED.items():
        if settings.get(key):
            conversion.warn("NO_EQUIVALENT", key, why)
    if lid_mappings:
        policy["identity_links"] = _lid_links(lid_mappings)
    else:
        conversion.warn("WHATSAPP_LID", "whatsapp/session/lid-mapping-*.json",
                        "no LID mapping files beside the config: a WhatsApp member seen under "
                        "a LID and a phone number is two people until both are linked")
    return conversion


def _lid_links(lid_mappings: Mapping[str, str]) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for lid, phone_jid in sorted(lid_mappings.items()):
        phone = canonical_whatsapp_id(phone_jid)
        if not phone:
            continue
        ids = links.setdefault(phone, [])
        for raw in (f"{lid}@lid", phone_jid, phone):
            ref = f"whatsapp:{raw}"
            if ref not in ids:
                ids.append(ref)
    return links


def _flag(settings: Mapping[str, Any], name: str, default: bool,
          conversion: Conversion) -> bool:
    value = settings.get(name, default)
    if isinstance(value, bool):
        return value
    conversion.warn("INVALID_SETTING", name, f"{name} must be true or false; {default} assumed")
    return default
