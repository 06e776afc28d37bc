"""Policy models: the pydantic schema, its value types, ref normalisers and the grouping hash."""

from __future__ import annotations

import hashlib
import json
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    field_validator,
)

from eventlog.encoding_names import KNOWN_ENCODINGS

Dimension = Literal["space", "chat", "topic", "sender"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
SessionScope = Literal["channel", "guild"]
DmScope = Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer", "per-chat"]
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
    # None: a thread splits by sender when its chat does (the dimensions). Hermes agent
    # splits group chats per user but shares threads (thread_sessions_per_user: false).
    per_sender: StrictBool | None = None


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


def _checked_account_ref(ref: str) -> str:
    split_ref(ref, what="account", example="telegram:atlas")
    return ref


AccountRef = Annotated[Ref, AfterValidator(_checked_account_ref)]


class OpenClawSettings(_Strict):
    """How OpenClaw spells keys convlog renders for it (rendering only, never grouping)."""

    main_key: Name = "main"


class PicoClawSettings(_Strict):
    """How PicoClaw spells scope values: its adapters' space types per platform."""

    space_types: dict[Name, Name] = Field(default_factory=dict)


class GatewaySettings(_Strict):
    """Settings of the legacy keys convlog renders; they never change which session is which."""

    openclaw: OpenClawSettings = Field(default_factory=OpenClawSettings)
    picoclaw: PicoClawSettings = Field(default_factory=PicoClawSettings)


class Policy(_Strict):
    """A scope policy; the empty policy is the default (one session per chat, safe DMs)."""

    name: Name | None = None
    # What the policy does, in a sentence, for people (`policy examples`, the report's
    # columns). Like `name`, it decides no grouping.
    description: str | None = Field(default=None, min_length=1, max_length=300)
    dimensions: tuple[Dimension, ...] = ("chat",)
    dm_scope: DmScope = "per-channel-peer"
    # 'platform:account' (or 'platform:*', any account but 'default') -> that account's DM scope.
    account_dm_scopes: dict[AccountRef, DmScope] = Field(default_factory=dict)
    identity_links: dict[Name, NonEmptyTuple[Ref]] = Field(default_factory=dict)
    channel_groups: dict[Name, NonEmptyTuple[ChannelRef]] = Field(default_factory=dict)
    spaces: dict[SpaceRef, SpacePolicy] = Field(default_factory=dict)
    threads: ThreadPolicy = Field(default_factory=ThreadPolicy)
    rules: tuple[Rule, ...] = ()
    reset: ResetPolicy = Field(default_factory=ResetPolicy)
    compaction: CompactionPolicy = Field(default_factory=CompactionPolicy)
    gateways: GatewaySettings = Field(default_factory=GatewaySettings)
    # The token encoding this projection counts and budgets in; unset: the deployment's
    # CONVLOG_ENCODING. It decides no grouping, so it is not in the fingerprint.
    encoding: str | None = Field(
        default=None, description=f"the token encoding ({', '.join(KNOWN_ENCODINGS)}); unset: "
                                  "the deployment's CONVLOG_ENCODING")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None and value not in KNOWN_ENCODINGS:
            raise ValueError(f"{value!r} is not a token encoding convlog counts; write one of "
                             f"{', '.join(repr(name) for name in KNOWN_ENCODINGS)}")
        return value

    _fingerprint: str = PrivateAttr(default="")

    def model_post_init(self, context: Any, /) -> None:
        canonical = json.dumps(
            [_FINGERPRINT_VERSION, self._grouping_parts()],
            sort_keys=True, ensure_ascii=False, separators=(",", ":"),
        )
        encoded = canonical.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates
        self._fingerprint = hashlib.sha256(encoded).hexdigest()

    def with_encoding(self, encoding: str) -> Policy:
        """This policy, naming `encoding` when it names none (itself when it does)."""
        return self if self.encoding is not None else self.model_copy(
            update={"encoding": encoding})

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
        parts = self._original_grouping_parts()
        # Options added later enter the hash only when set, so that every policy written
        # before them keeps its fingerprint and with it its session ids.
        if self.account_dm_scopes:
            parts["account_dm_scopes"] = dict(sorted(self.account_dm_scopes.items()))
        return parts

    def _original_grouping_parts(self) -> dict[str, Any]:
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
            "threads": self.threads.model_dump(mode="json", exclude_none=True),
            "rules": [
                {
                    "when": {key: sorted(values) for key, values in rule.when.conditions().items()},
                    "dimensions": list(rule.dimensions),
                }
                for rule in self.rules
            ],
            "reset": self.reset.model_dump(mode="json"),
        }
