"""PicoClaw's config (JSON) as a convlog policy: session dimensions, dm_scope, identity
links and the dispatch rules' per-rule session dimensions.

From PicoClaw's session docs and `pkg/config`: `session.dimensions` (default `chat`),
`session.dm_scope` (older releases), `session.identity_links`, and
`agents.dispatch.rules[] {name, agent, when {channel, account, space, chat, topic,
sender}, session_dimensions}`. A Telegram forum topic stays its own session under `chat`;
other platforms' topics join their chat unless `topic` is a dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.gateways.conversion import Conversion, ignored, mapping, require_object

_DIMENSIONS = ("space", "chat", "topic", "sender")
_DM_SCOPES = ("main", "per-peer", "per-channel-peer", "per-account-channel-peer")
_WHEN_KEYS = {"channel": "platform", "account": "account", "space": "space", "chat": "chat",
              "topic": "topic", "sender": "sender", "chat_type": "chat_type"}


def convert(data: Mapping[str, Any]) -> Conversion:
    """The convlog policy reproducing PicoClaw's grouping, with a warning per lost setting."""
    config = require_object(data, "PicoClaw")
    conversion = Conversion("picoclaw")
    policy = conversion.policy
    policy["name"] = "from-picoclaw"
    session = mapping(config.get("session"), "session", conversion)
    policy["dimensions"] = _dimensions(session.get("dimensions", ["chat"]),
                                       "session.dimensions", conversion)
    dm_scope = session.get("dm_scope")
    if dm_scope in _DM_SCOPES and dm_scope != "per-account-channel-peer":
        policy["dm_scope"] = dm_scope
    elif dm_scope is not None and dm_scope != "per-account-channel-peer":
        conversion.warn("INVALID_SETTING", "session.dm_scope",
                        f"{dm_scope!r} is not a dm_scope; per-channel-peer is assumed")
    links = mapping(session.get("identity_links"), "session.identity_links", conversion)
    if links:
        policy["identity_links"] = {str(name): [str(i) for i in ids]
                                    for name, ids in links.items()
                                    if isinstance(ids, list) and ids}
    ignored(conversion, session, "session.", {"dimensions", "dm_scope", "identity_links"}, {})
    rules = _rules(config, conversion)
    if rules:
        policy["rules"] = rules
    if "topic" not in policy["dimensions"]:
        conversion.warn("THREAD_ISOLATION", "session.dimensions",
                        "PicoClaw folds a thread into its chat unless 'topic' is a dimension "
                        "(Telegram forum topics excepted); convlog gives every thread its own "
                        "session: set threads.isolate to false if that matters more")
    return conversion


def _dimensions(value: Any, setting: str, conversion: Conversion) -> list[str]:
    if not isinstance(value, list):
        conversion.warn("INVALID_SETTING", setting, "dimensions must be a list; chat assumed")
        return ["chat"]
    found = []
    for item in value:
        name = str(item).strip().lower()
        if name in _DIMENSIONS and name not in found:
            found.append(name)
        elif name not in _DIMENSIONS:
            conversion.warn("NO_EQUIVALENT", setting, f"dimension {item!r} is not one of "
                            f"{', '.join(_DIMENSIONS)}; it was dropped")
    return found


def _rules(config: Mapping[str, Any], conversion: Conversion) -> list[dict[str, Any]]:
    agents = mapping(config.get("agents"), "agents", conversion)
    dispatch = mapping(agents.get("dispatch"), "agents.dispatch", conversion)
    raw_rules = dispatch.get("rules") or []
    rules: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
        where = f"agents.dispatch.rules[{index}]"
        if not isinstance(raw, dict):
            conversion.warn("INVALID_SETTING", where, "a rule must be an object; skipped")
            continue
        when = mapping(raw.get("when"), f"{where}.when", conversion)
        converted_when: dict[str, Any] = {}
        for key, value in when.items():
            target = _WHEN_KEYS.get(key)
            if target is None:
                conversion.warn("NO_EQUIVALENT", f"{where}.when.{key}",
                                "convlog rules cannot match on this; the condition was dropped")
            else:
                converted_when[target] = value
        if raw.get("agent"):
            conversion.warn("AGENT_ROUTING", f"{where}.agent",
                            "the rule's agent is the gateway's routing; convlog takes the agent "
                            "from each event, so the rule matches whatever agent it names")
        dims = raw.get("session_dimensions")
        if dims is None:
            continue  # a rule that only picks an agent changes no grouping
        rules.append({"name": str(raw.get("name") or f"rule {index + 1}"),
                      "when": converted_when,
                      "dimensions": _dimensions(dims, f"{where}.session_dimensions",
                                                conversion)})
    return rules
