"""PicoClaw's opaque `sk_v1_` keys and the readable aliases it records beside them.

As PicoClaw's `pkg/session` builds them: a scope (version, agent, channel, account and
the policy's dimensions with their values) is signed as
`v=1|agent=..|channel=..|account=..|<dim>=<value>...`, lower-cased, and the key is
`sk_v1_` + the SHA-256 hex of that text. Values: `space` = `<space type>:<id>`, `chat` =
`<chat type>:<id>` (a Telegram forum topic rides on the chat as `<id>/<topic>` unless
`topic` is a dimension), `topic` = `topic:<id>`, `sender` = the canonical identity.
The hash cannot be reversed: opaque keys are found through imported scopes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from projections.gateways.parsed import ParsedKey
from projections.gateways.view import LegacyView, normalize_account_id, normalize_agent_id

OPAQUE_PREFIX = "sk_v1_"
_CHAT_TYPES = {"dm": "direct", "group": "group", "channel": "channel"}
_DM_SCOPES = ("per-channel-peer", "per-account-channel-peer")


@dataclass(frozen=True, slots=True)
class Scope:
    """A PicoClaw session scope: what its key is the hash of."""

    agent: str
    channel: str
    account: str
    dimensions: tuple[str, ...]
    values: Mapping[str, str]
    version: int = 1

    def signature(self) -> str:
        parts = [f"v={self.version}", f"agent={self.agent.strip().lower()}",
                 f"channel={self.channel.strip().lower()}",
                 f"account={self.account.strip().lower()}"]
        for dimension in self.dimensions:
            name = dimension.strip().lower()
            if name:
                parts.append(f"{name}={self.values.get(dimension, '').strip().lower()}")
        return "|".join(parts)

    def key(self) -> str:
        return opaque_key(self.signature())

    def as_dict(self) -> dict[str, object]:
        """The scope as PicoClaw writes it into `<key>.meta.json`, with the signed text."""
        return {"version": self.version, "agent_id": self.agent, "channel": self.channel,
                "account": self.account, "dimensions": list(self.dimensions),
                "values": dict(self.values), "signature": self.signature()}


_HASHED: OrderedDict[str, dict[str, object]] = OrderedDict()
_HASHED_MAX = 4096


def _remember(key: str, scope: dict[str, object]) -> None:
    _HASHED[key] = scope
    _HASHED.move_to_end(key)
    while len(_HASHED) > _HASHED_MAX:
        _HASHED.popitem(last=False)


def hashed_scope(key: str) -> dict[str, object] | None:
    """What an `sk_v1_` key rendered in this process is the hash of: the scope (or, for a
    DM under dmScope main, the alias); None for a key this process never rendered."""
    return _HASHED.get(key.strip().lower())


def opaque_key(alias: str) -> str:
    """`sk_v1_` + SHA-256 of the lower-cased, trimmed text (a scope signature or an alias)."""
    normalized = alias.strip().lower()
    return OPAQUE_PREFIX + hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


def main_alias(agent: str) -> str:
    return f"agent:{normalize_agent_id(agent)}:main"


def scope_of(view: LegacyView) -> Scope | None:
    """The scope PicoClaw would allocate for the session, or None when it has none."""
    if view.kind == "dm" and view.dm_scope not in _DM_SCOPES:
        return None
    if view.kind == "chat" and not _expressible(view):
        return None
    dimensions: list[str] = []
    values: dict[str, str] = {}
    topic_on_chat = (view.platform == "telegram" and view.topic is not None
                     and "topic" not in view.dimensions)
    for dimension in view.dimensions:
        value = _value(view, dimension, topic_on_chat)
        if value is not None:
            dimensions.append(dimension)
            values[dimension] = value
    if view.topic is not None and not topic_on_chat and "topic" not in dimensions:
        return None  # PicoClaw folds this thread into its chat; convlog keeps it apart
    return Scope(normalize_agent_id(view.agent), view.platform.lower(),
                 normalize_account_id(view.account), tuple(dimensions), values)


def _expressible(view: LegacyView) -> bool:
    kinds = set(view.grouped_by())
    return view.native_chat and kinds <= {"chat", "space", "sender", "person"}


def _value(view: LegacyView, dimension: str, topic_on_chat: bool) -> str | None:
    if dimension == "space":
        if view.space is None:
            return None
        space_type = view.space_types.get(view.platform, "space")
        return f"{space_type}:{view.space.lower()}"
    if dimension == "chat":
        chat = f"{view.chat}/{view.topic}" if topic_on_chat else view.chat
        return f"{_CHAT_TYPES.get(view.chat_type, view.chat_type)}:{chat.lower()}"
    if dimension == "topic":
        return None if view.topic is None else f"topic:{view.topic.lower()}"
    if dimension == "sender":
        peer = view.peer
        return None if peer is None else peer.lower()
    return None


def render(view: LegacyView) -> dict[str, str]:
    """`picoclaw` (the opaque key) and `picoclaw:alias` (its readable legacy alias)."""
    agent = normalize_agent_id(view.agent)
    if view.kind == "dm" and view.dm_scope == "main" and view.topic is None:
        key = opaque_key(main_alias(agent))
        _remember(key, {"alias": main_alias(agent)})
        return {"picoclaw": key, "picoclaw:alias": main_alias(agent)}
    scope = scope_of(view)
    if scope is None:
        return {}
    found = {"picoclaw": scope.key()}
    _remember(found["picoclaw"], scope.as_dict())
    found.update(_aliases(view, agent))
    return found


def _aliases(view: LegacyView, agent: str) -> dict[str, str]:
    """The readable aliases PicoClaw records: a DM's first (by peer) and its chat's."""
    channel = view.platform.lower()
    if view.kind == "dm":
        found = {}
        if view.peer is not None:
            found["picoclaw:alias"] = f"agent:{agent}:direct:{view.peer.lower()}"
        if view.chat.lower() != (view.peer or "").lower():
            found["picoclaw:alias:chat"] = f"agent:{agent}:{channel}:direct:{view.chat.lower()}"
        return found
    chat = view.chat if view.topic is None else f"{view.chat}/{view.topic}"
    kind = _CHAT_TYPES.get(view.chat_type, view.chat_type)
    return {"picoclaw:alias": f"agent:{agent}:{channel}:{kind}:{chat.lower()}"}


def aliases_for_direct(agent: str, channel: str, account: str,
                       peers: Sequence[str]) -> list[str]:
    """Every readable alias PicoClaw records for a direct chat with these peer ids."""
    agent, channel = normalize_agent_id(agent), channel.strip().lower() or "unknown"
    account = normalize_account_id(account)
    found = [main_alias(agent)]
    for peer in peers:
        peer = peer.strip().lower()
        if peer:
            found += [f"agent:{agent}:direct:{peer}", f"agent:{agent}:{channel}:direct:{peer}",
                      f"agent:{agent}:{channel}:{account}:direct:{peer}"]
    return list(dict.fromkeys(found))


def parse(key: str) -> ParsedKey | None:
    """An opaque key is recognised but names nothing by itself; aliases read as OpenClaw's."""
    raw = key.strip()
    if not raw.lower().startswith(OPAQUE_PREFIX):
        return None
    return ParsedKey("picoclaw", raw, "opaque", opaque=True, chat_session=False,
                     notes=("a PicoClaw opaque key is a hash of its scope: it is found "
                            "through the scopes `convlog import picoclaw` recorded, or by "
                            "rendering the key of an address",))


def parse_scope(data: Mapping[str, object]) -> Scope | None:
    """A scope as PicoClaw writes it into `<key>.meta.json` (`scope`), or None if malformed."""
    dims = data.get("dimensions") or []
    values = data.get("values") or {}
    if not isinstance(dims, list) or not isinstance(values, dict):
        return None
    version = data.get("version", 1)
    return Scope(agent=str(data.get("agent_id") or data.get("agent") or "main"),
                 channel=str(data.get("channel") or "unknown"),
                 account=str(data.get("account") or "default"),
                 dimensions=tuple(str(d) for d in dims),
                 values={str(k): str(v) for k, v in values.items()},
                 version=version if isinstance(version, int) else 1)
