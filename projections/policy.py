"""Scope policies: the pydantic model, validation with codes, loading, grouping fingerprint."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import types
import typing
import zoneinfo
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from projections.errors import Diagnostic, PolicyError

Dimension = Literal["space", "chat", "topic", "sender"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
SessionScope = Literal["channel", "guild"]
DmScope = Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer"]
DM_SCOPES: tuple[str, ...] = get_args(DmScope)
ResetMode = Literal["none", "daily", "idle", "both"]
ChatType = Literal["dm", "group", "channel"]

Name = Annotated[str, Field(min_length=1, max_length=512)]
Ref = Annotated[str, Field(min_length=1, max_length=1024)]


def _int_as_text(value: Any) -> Any:
    # Platforms hand out numeric ids (Telegram's -1001234567890); accept them as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str | int) and not isinstance(value, bool) else value


ChatId = Annotated[Name, BeforeValidator(_int_as_text)]
# A rule condition: one value, or a list of accepted values.
RuleValue = Annotated[tuple[ChatId, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
ChatTypes = Annotated[tuple[ChatType, ...], BeforeValidator(_one_or_many), Field(min_length=1)]

# Prefixes OpenClaw writes between platform and chat id ("discord:channel:123").
_CHAT_KIND_PREFIXES = ("channel:", "group:")
_FINGERPRINT_VERSION = "convlog-grouping-v1"


def split_ref(ref: str, *, what: str, example: str) -> tuple[str, str]:
    """Split 'platform:id' at the first colon; both parts must be non-empty."""
    platform, colon, rest = ref.partition(":")
    if not colon or not platform or not rest:
        raise ValueError(
            f"{ref!r} is not a {what} reference; write 'platform:id', e.g. {example!r}")
    return platform, rest


def normalize_channel_ref(ref: str) -> str:
    """'discord:channel:123' (OpenClaw's spelling) and 'discord:123' both become 'discord:123'."""
    platform, chat = split_ref(ref, what="channel", example="discord:1000000001")
    for prefix in _CHAT_KIND_PREFIXES:
        if chat.startswith(prefix) and len(chat) > len(prefix):
            chat = chat[len(prefix):]
            break
    return f"{platform}:{chat}"


def _checked_space_ref(ref: str) -> str:
    split_ref(ref, what="space", example="discord:1234567890")
    return ref


ChannelRef = Annotated[Ref, AfterValidator(normalize_channel_ref)]
SpaceRef = Annotated[Ref, AfterValidator(_checked_space_ref)]
_T = TypeVar("_T")
NonEmptyTuple = Annotated[tuple[_T, ...], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelOverride(_Strict):
    """A per-channel override inside a space: only the session scope can change."""

    session_scope: SessionScope


class SpacePolicy(_Strict):
    """How chats of one guild / workspace group: by channel or guild-wide, with exceptions."""

    session_scope: SessionScope = "channel"
    channels: dict[Name, ChannelOverride] = Field(default_factory=dict)
    privacy_zones: tuple[ChatId, ...] = ()


class ThreadPolicy(_Strict):
    """Thread / forum-topic handling: isolated by default, optionally inheriting context."""

    isolate: StrictBool = True
    inherit_parent: StrictBool = False


class RuleWhen(_Strict):
    """Conditions of a rule; each is one value or a list of accepted values; all must hold."""

    agent: RuleValue | None = None
    platform: RuleValue | None = None
    account: RuleValue | None = None
    space: RuleValue | None = None
    chat: RuleValue | None = None
    chat_type: ChatTypes | None = None
    sender: RuleValue | None = None
    topic: RuleValue | None = None

    def conditions(self) -> dict[str, tuple[str, ...]]:
        """The set conditions, each as a tuple of accepted values."""
        found: dict[str, tuple[str, ...]] = {}
        for field_name in type(self).model_fields:
            value = getattr(self, field_name)
            if value is not None:
                found[field_name] = value
        return found


class Rule(_Strict):
    """A dispatch rule: traffic matching `when` uses these dimensions (first match wins)."""

    name: Name
    when: RuleWhen
    dimensions: tuple[Dimension, ...]


class ResetPolicy(_Strict):
    """When sessions start over: by clock, by idleness, and on trigger commands."""

    mode: ResetMode = "none"
    at_hour: int = Field(default=4, ge=0, le=23)
    timezone: str | None = None
    idle_minutes: int = Field(default=1440, ge=1)
    triggers: tuple[Name, ...] = ("/new", "/reset")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known IANA time zone; write one like 'Europe/Berlin' or 'UTC'"
            ) from None
        return value


class CompactionPolicy(_Strict):
    """Per-session thresholds that flag a session as needing a summary."""

    context_limit_tokens: int = Field(default=200_000, ge=1)
    summarize_token_percent: float = Field(default=85, gt=0, le=100)
    summarize_threshold: int = Field(default=50, ge=1)
    preserve_recent: int = Field(default=10, ge=0)
    max_messages: int | None = Field(default=None, ge=1)
    max_age_minutes: int | None = Field(default=None, ge=1)


class Policy(_Strict):
    """A scope policy; the empty policy is the default (one session per chat, safe DMs)."""

    name: Name | None = None
    dimensions: tuple[Dimension, ...] = ("chat",)
    dm_scope: DmScope = "per-channel-peer"
    identity_links: dict[Name, NonEmptyTuple[Ref]] = Field(default_factory=dict)
    channel_groups: dict[Name, NonEmptyTuple[ChannelRef]] = Field(default_factory=dict)
    spaces: dict[SpaceRef, SpacePolicy] = Field(default_factory=dict)
    threads: ThreadPolicy = Field(default_factory=ThreadPolicy)
    rules: tuple[Rule, ...] = ()
    reset: ResetPolicy = Field(default_factory=ResetPolicy)
    compaction: CompactionPolicy = Field(default_factory=CompactionPolicy)

    _fingerprint: str = PrivateAttr(default="")

    def model_post_init(self, context: Any, /) -> None:
        canonical = json.dumps(
            [_FINGERPRINT_VERSION, self._grouping_parts()],
            sort_keys=True, ensure_ascii=False, separators=(",", ":"),
        )
        encoded = canonical.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates
        self._fingerprint = hashlib.sha256(encoded).hexdigest()

    def grouping_fingerprint(self) -> str:
        """A stable hash of everything that decides grouping (not name, not compaction)."""
        return self._fingerprint

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A validated copy (pydantic's plain copy would skip validation and the fingerprint)."""
        data = self.model_dump(mode="json")
        data.update(update or {})
        return type(self).model_validate(data)

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def _grouping_parts(self) -> dict[str, Any]:
        return {
            "dimensions": list(self.dimensions),
            "dm_scope": self.dm_scope,
            "identity_links": {name: sorted(ids) for name, ids in self.identity_links.items()},
            "channel_groups": {name: sorted(refs) for name, refs in self.channel_groups.items()},
            "spaces": {
                ref: {
                    "session_scope": space.session_scope,
                    "channels": {chat: o.session_scope for chat, o in space.channels.items()},
                    "privacy_zones": sorted(set(space.privacy_zones)),
                }
                for ref, space in self.spaces.items()
            },
            "threads": self.threads.model_dump(mode="json"),
            "rules": [
                {
                    "when": {key: sorted(values) for key, values in rule.when.conditions().items()},
                    "dimensions": list(rule.dimensions),
                }
                for rule in self.rules
            ],
            "reset": self.reset.model_dump(mode="json"),
        }


# ---------------------------------------------------------------- diagnostics


Loc = tuple[int | str, ...]

# Section of the policy -> the code its structural errors get.
_SECTION_CODES = {
    "name": "INVALID_NAME",
    "dm_scope": "INVALID_DM_SCOPE",
    "identity_links": "INVALID_IDENTITY_LINK",
    "channel_groups": "INVALID_CHANNEL_GROUP",
    "spaces": "INVALID_SPACE",
    "threads": "INVALID_THREADS",
    "rules": "INVALID_RULE",
    "reset": "INVALID_RESET",
    "compaction": "INVALID_COMPACTION",
    "dimensions": "UNKNOWN_DIMENSION",
}

# Keys users bring from the gateways they come from, and what to write instead.
_KEY_HINTS = {
    "session": "PicoClaw nests these under 'session'; move its keys to the top level",
    "session_dimensions": "write 'dimensions'",
    "channel": "convlog calls the platform 'platform' (e.g. \"platform\": \"telegram\")",
    "sessionScope": "write 'session_scope'",
    "dmScope": "write 'dm_scope'",
    "identityLinks": "write 'identity_links'",
    "channelGroups": "write 'channel_groups'",
    "privacyZones": "write 'privacy_zones'",
    "requireMention": "mention handling is a gateway setting, not a scope policy; remove it",
    "threadBindings": "thread handling is 'threads' at the top level of the policy",
    "scope": "choose sessions with 'dimensions', 'dm_scope' and 'spaces'",
}


def check_policy(data: Any) -> list[Diagnostic]:
    """Every error and warning of a decoded policy document; never raises on user input."""
    if not isinstance(data, dict):
        return [Diagnostic("INVALID_POLICY", "error", "policy",
                           f"a policy is a JSON object, got {_json_kind(data)}; "
                           "start from {} (the default policy) or a file in examples/")]
    diagnostics: list[Diagnostic] = []
    valid_sections: dict[str, Any] = {}
    for key, value in data.items():
        section_errors = _section_diagnostics(key, value)
        diagnostics.extend(section_errors)
        if not section_errors:
            valid_sections[key] = value
    policy = Policy.model_validate(valid_sections)
    diagnostics.extend(semantic_diagnostics(policy))
    return diagnostics


def _section_diagnostics(key: Any, value: Any) -> list[Diagnostic]:
    try:
        Policy.model_validate({key: value})
    except ValidationError as error:
        return [_diagnostic_from_pydantic(item) for item in error.errors(include_url=False)
                if not _follows_item_errors(item)]
    return []


def _follows_item_errors(item: ErrorDetails) -> bool:
    """pydantic also calls a list 'too short' once its bad items are dropped: not news."""
    given = item.get("input")
    return item["type"] == "too_short" and isinstance(given, list | tuple) and len(given) > 0


def errors_of(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def load_policy(source: str | Path | Mapping[str, Any]) -> Policy:
    """A policy from a JSON file path or a decoded dict; raises PolicyError when invalid."""
    data = read_policy_file(source) if isinstance(source, str | Path) else dict(source)
    diagnostics = check_policy(data)
    errors = errors_of(diagnostics)
    if errors:
        listing = "; ".join(str(d) for d in errors)
        raise PolicyError(f"the policy has {len(errors)} error(s): {listing}", diagnostics)
    return Policy.model_validate(data)


def read_policy_file(path: str | Path) -> Any:
    """The decoded JSON of a policy file; PolicyError with a code when unreadable."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _file_error("POLICY_NOT_FOUND", str(file),
                          f"no policy file at {file}; check the path "
                          "(examples/ has ready-made policies)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _file_error("POLICY_UNREADABLE", str(file),
                          f"cannot read {file} ({error}); make it a readable UTF-8 file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _file_error("POLICY_NOT_JSON", f"{file}:{error.lineno}:{error.colno}",
                          f"{file} is not valid JSON ({error.msg} at line {error.lineno}, "
                          f"column {error.colno}); fix the syntax") from None


def _file_error(code: str, path: str, message: str) -> PolicyError:
    return PolicyError(message, [Diagnostic(code, "error", path, message)], code=code)


# ------------------------------------------------------ pydantic error mapping


def _diagnostic_from_pydantic(item: ErrorDetails) -> Diagnostic:
    loc: Loc = tuple(item["loc"])
    code = _code_for(loc, item["type"])
    return Diagnostic(code, "error", render_path(loc), _message_for(item, loc))


def _code_for(loc: Loc, error_type: str) -> str:
    if error_type == "extra_forbidden" and len(loc) == 1:
        return "UNKNOWN_KEY"
    if "dimensions" in loc and loc[0] in ("dimensions", "rules"):
        return "UNKNOWN_DIMENSION" if error_type == "literal_error" else "INVALID_DIMENSIONS"
    if loc[0] == "spaces":
        return _space_code(loc, error_type)
    return _SECTION_CODES.get(str(loc[0]), "INVALID_POLICY")


def _space_code(loc: Loc, error_type: str) -> str:
    if loc[-1] == "session_scope" and error_type == "literal_error":
        return "INVALID_SESSION_SCOPE"
    if len(loc) >= 4 and loc[2] == "channels":
        return "CHANNEL_OVERRIDE_INVALID"
    return "INVALID_SPACE"


def _message_for(item: ErrorDetails, loc: Loc) -> str:
    error_type = item["type"]
    shown = _shown(item.get("input"))
    if error_type == "extra_forbidden":
        return _unknown_key_message(loc)
    if error_type == "missing":
        return f"'{loc[-1]}' is required here; add it"
    if error_type == "literal_error":
        expected = (item.get("ctx") or {}).get("expected", "an allowed value")
        return f"{shown} is not allowed here; use {expected}"
    friendly = _FRIENDLY_MESSAGES.get(error_type)
    if friendly is not None:
        return f"{friendly} (got {shown})"
    message = item["msg"].removeprefix("Value error, ")
    if message and message[0].isupper():
        message = message[0].lower() + message[1:]
    return f"{message} (got {shown})" if error_type != "value_error" else message


_FRIENDLY_MESSAGES = {
    "tuple_type": "must be a JSON array",
    "list_type": "must be a JSON array",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "too_short": "must list at least one item; add one or remove the entry",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
}


def _unknown_key_message(loc: Loc) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    hint = _KEY_HINTS.get(key)
    if hint is None:
        close = difflib.get_close_matches(_snake(key), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "remove it"
    return f"'{key}' is not a policy key here ({hint}); allowed: {', '.join(allowed)}"


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


# --------------------------------------------------------------- path walking


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional so the walker sees the container or model underneath."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            models = [m for m in members if _is_model(_unwrap(m))]
            annotation = models[0] if models else members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(loc: Loc) -> tuple[str, Any]:
    """Render a location as a readable path and return the type found at its end."""
    current: Any = Policy
    rendered = ""
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if part == "[key]":
            continue
        if _is_model(current) and isinstance(part, str):
            rendered += f".{part}" if rendered else part
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif origin is dict:
            rendered += f"[{json.dumps(part, ensure_ascii=False)}]"
            current = get_args(current)[1]
        elif origin is tuple and isinstance(part, int):
            rendered += f"[{part}]"
            current = get_args(current)[0]
        else:
            rendered += f"[{json.dumps(part, ensure_ascii=False)}]" if rendered else str(part)
            current = None
    return rendered or "policy", current


def render_path(loc: Loc) -> str:
    return _walk(loc)[0]


def _allowed_keys(loc: Loc) -> list[str]:
    target = _unwrap(_walk(loc)[1])
    return list(target.model_fields) if _is_model(target) else []


# ----------------------------------------------------------- semantic checks


def semantic_diagnostics(policy: Policy) -> list[Diagnostic]:
    """Cross-field problems of a structurally valid policy."""
    return [
        *_duplicate_dimensions(policy),
        *_channel_group_overlaps(policy),
        *_privacy_zones_grouped(policy),
        *_identity_link_overlaps(policy),
        *_space_scope_conflicts(policy),
        *_rule_findings(policy),
        *_thread_findings(policy),
    ]


def _duplicate_dimensions(policy: Policy) -> list[Diagnostic]:
    lists: list[tuple[Loc, tuple[str, ...]]] = [(("dimensions",), policy.dimensions)]
    lists += [(("rules", i, "dimensions"), r.dimensions) for i, r in enumerate(policy.rules)]
    found = []
    for loc, dimensions in lists:
        seen: set[str] = set()
        for index, dimension in enumerate(dimensions):
            if dimension in seen:
                found.append(Diagnostic(
                    "DUPLICATE_DIMENSION", "error", render_path((*loc, index)),
                    f"'{dimension}' is listed twice; list each dimension once"))
            seen.add(dimension)
    return found


def _channel_group_overlaps(policy: Policy) -> list[Diagnostic]:
    owner: dict[str, str] = {}
    found = []
    for group, refs in policy.channel_groups.items():
        for index, ref in enumerate(refs):
            first = owner.setdefault(ref, group)
            if first != group:
                found.append(Diagnostic(
                    "CHANNEL_GROUP_OVERLAP", "error",
                    render_path(("channel_groups", group, index)),
                    f"chat {ref} is already in group {first!r}; a chat belongs to one group "
                    f"only, so remove it from {group!r} or from {first!r}"))
    return found


def _privacy_zones_grouped(policy: Policy) -> list[Diagnostic]:
    grouped = {ref: group for group, refs in policy.channel_groups.items() for ref in refs}
    found = []
    for space_ref, space in policy.spaces.items():
        platform = space_ref.partition(":")[0]
        for index, chat in enumerate(space.privacy_zones):
            group = grouped.get(f"{platform}:{chat}")
            if group is not None:
                found.append(Diagnostic(
                    "PRIVACY_ZONE_GROUPED", "error",
                    render_path(("spaces", space_ref, "privacy_zones", index)),
                    f"chat {chat} is a privacy zone but also in channel group {group!r}; "
                    "a privacy zone never shares context, so remove it from the group "
                    "or from privacy_zones"))
    return found


def _identity_link_overlaps(policy: Policy) -> list[Diagnostic]:
    owner: dict[str, str] = {}
    found = []
    for name, raw_ids in policy.identity_links.items():
        for index, raw in enumerate(raw_ids):
            first = owner.setdefault(raw, name)
            if first != name:
                found.append(_link_overlap(name, index, raw, first, raw))
    for name, raw_ids in policy.identity_links.items():
        for index, raw in enumerate(raw_ids):
            bare = raw.partition(":")[2]
            other = owner.get(bare) if bare else None
            if other is not None and other != name:
                found.append(_link_overlap(name, index, raw, other, bare))
    return found


def _link_overlap(name: str, index: int, raw: str, other: str, other_raw: str) -> Diagnostic:
    return Diagnostic(
        "IDENTITY_LINK_OVERLAP", "error", render_path(("identity_links", name, index)),
        f"{raw} would be both {name!r} and {other!r} (via {other_raw}); "
        "link each raw id to one name only")


def _space_scope_conflicts(policy: Policy) -> list[Diagnostic]:
    found = []
    for space_ref, space in policy.spaces.items():
        zones = set(space.privacy_zones)
        differing = sorted(chat for chat, override in space.channels.items()
                           if override.session_scope != space.session_scope)
        if differing:
            found.append(Diagnostic(
                "SESSION_SCOPE_CONFLICT", "warning", render_path(("spaces", space_ref)),
                f"space {space_ref} is {space.session_scope}-scoped but chat(s) "
                f"{', '.join(differing)} override it; their messages and the rest of the "
                "space do not share context. Keep it if intended, else remove the overrides"))
        for chat, override in space.channels.items():
            if chat in zones and override.session_scope == "guild":
                found.append(Diagnostic(
                    "PRIVACY_ZONE_CONFLICT", "warning",
                    render_path(("spaces", space_ref, "channels", chat)),
                    f"chat {chat} is a privacy zone, so its guild-scope override has no "
                    "effect; remove the override"))
    return found


def _rule_findings(policy: Policy) -> list[Diagnostic]:
    found = []
    names: set[str] = set()
    earlier: list[tuple[str, dict[str, tuple[str, ...]]]] = []
    for index, rule in enumerate(policy.rules):
        conditions = rule.when.conditions()
        path = render_path(("rules", index))
        if rule.name in names:
            found.append(Diagnostic("DUPLICATE_RULE_NAME", "error", path,
                                    f"another rule is also named {rule.name!r}; a rule's "
                                    "sessions are keyed by its name, so give each its own"))
        names.add(rule.name)
        if not conditions:
            found.append(Diagnostic("RULE_MATCHES_EVERYTHING", "warning", path,
                                    f"rule {rule.name!r} has an empty 'when' and matches all "
                                    "traffic; set top-level 'dimensions' instead, or add "
                                    "conditions"))
        shadow = next((name for name, prior in earlier if _covers(prior, conditions)), None)
        if shadow is not None:
            found.append(Diagnostic("RULE_SHADOWED", "warning", path,
                                    f"rule {rule.name!r} never applies: rule {shadow!r} comes "
                                    "first and matches everything it matches; reorder or "
                                    "narrow the rules"))
        if conditions.get("chat_type") == ("dm",):
            found.append(Diagnostic("RULE_IGNORED_FOR_DMS", "warning", path,
                                    f"rule {rule.name!r} only matches DMs, but DMs follow "
                                    "'dm_scope', not dimensions; set dm_scope instead"))
        earlier.append((rule.name, conditions))
    return found


def _covers(prior: dict[str, tuple[str, ...]], later: dict[str, tuple[str, ...]]) -> bool:
    """True when every event the later conditions match is also matched by the prior ones."""
    return all(key in later and set(later[key]) <= set(values) for key, values in prior.items())


def _thread_findings(policy: Policy) -> list[Diagnostic]:
    if policy.threads.isolate or "topic" not in policy.dimensions:
        return []
    return [Diagnostic("THREAD_ISOLATION_CONFLICT", "warning", "threads.isolate",
                       "threads.isolate is false but 'topic' is a dimension, so threads still "
                       "get their own sessions; remove 'topic' to fold threads into their chat")]
