"""Gateway events: the pydantic model at the log's edge, its limits and codes, identity."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from eventlog.address import Address
from eventlog.edge import (
    MAX_META_DEPTH,
    MAX_POSITION,
    REJECTION_CODES,
    coded,
    escapes_nothing_unsafe,
    find_unstorable,
)
from eventlog.event_fields import about, fields_required
from eventlog.jsontext import (
    canonical_json,
    digest,
    json_string,
    read_json,
    spaced_json_list,
)
from eventlog.times import parse_rfc3339

EventType = Literal[
    "message.received",
    "message.sent",
    "tool.used",
    "message.edited",
    "message.deleted",
    "thread.created",
    "session.reset",
    "summary.recorded",
    "content.redacted",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
ChatType = Literal["dm", "group", "channel"]

DEFAULT_MAX_TEXT_CHARS = 200_000

JSON_WHITESPACE = " \t\r\n"  # all JSON allows between tokens (RFC 8259)
MESSAGE_TYPES = frozenset({"message.received", "message.sent", "tool.used", "message.edited"})


Rfc3339 = Annotated[datetime, BeforeValidator(parse_rfc3339)]
_TIMES = TypeAdapter(datetime)  # a time as the model's JSON dump writes it
Id = Annotated[str, Field(min_length=1, max_length=512)]


# Fields that take a platform's id. Platforms hand out numeric ids (Telegram's
# -1001234567890): those are accepted as text.
ID_FIELDS = ("agent", "platform", "account", "space", "chat", "topic", "sender",
             "message_id", "reply_to", "parent_message_id", "id", "session_id")
_NOT_INTEGERS = frozenset({str, type(None), float, dict, list, bool})


def _ids_as_text(data: dict[Any, Any]) -> dict[Any, Any]:
    """`data` with its integer ids as text; a copy only when there is one to convert.

    One pass per event here rather than a validator per field: twelve calls into
    Python per event were a sixth of the model's time.
    """
    numeric = [name for name in ID_FIELDS
               if isinstance(data.get(name), int) and not isinstance(data[name], bool)]
    if not numeric:
        return data
    converted = dict(data)
    for name in numeric:
        converted[name] = str(data[name])
    return converted


class Event(BaseModel):
    """One gateway event, as the design's contract defines it: an inbound or outbound
    message, a tool call, an edit, a deletion, a thread, a reset, a summary or a
    redaction, with where it was said. Unknown fields are refused (free data goes in
    `meta`); each type's required fields are named in their descriptions."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False,
                              json_schema_extra={"examples": [{
                                  "type": "message.received", "agent": "main",
                                  "platform": "discord", "space": "1234567890",
                                  "chat": "1000000001", "chat_type": "channel",
                                  "sender": "111", "sender_name": "Alice",
                                  "message_id": "1290000000000000001",
                                  "occurred_at": "2026-02-01T09:30:00Z",
                                  "text": "did the nightly export finish?"}]})

    type: EventType = Field(description=about(
        "type", "What happened: message.received (a person wrote), message.sent (the agent "
        "answered), tool.used (a tool call and its result), message.edited, "
        "message.deleted, thread.created, session.reset, summary.recorded, "
        "content.redacted.", "message.received"))
    agent: Id = Field(description=about(
        "agent", "The gateway's agent this event belongs to.", "main"))
    platform: Id = Field(description=about(
        "platform", "The chat platform.", "discord", "telegram"))
    account: Id = Field("default", description=about(
        "account", "The bot account on the platform (one gateway may run several).",
        "default"))
    space: Id | None = Field(None, description=about(
        "space", "The server, guild or workspace the chat belongs to, if any.", "1234567890"))
    chat: Id | None = Field(None, description=about(
        "chat", "The conversation: a channel, group or DM id, as the platform names it.",
        "1000000001"))
    chat_type: ChatType | None = Field(None, description=about(
        "chat_type", "dm, group or channel.", "channel"))
    topic: Id | None = Field(None, description=about(
        "topic", "The thread or forum topic inside the chat, if any.", "652"))
    sender: Id | None = Field(None, description=about(
        "sender", "Who wrote it: the platform's user id (for message.sent, the bot).",
        "111"))
    sender_name: str | None = Field(None, max_length=512, description=about(
        "sender_name", "The sender's display name; erasable.", "Alice"))
    message_id: Id | None = Field(None, description=about(
        "message_id", "The platform's id of the message; with the address it makes the "
        "event's idempotency key when `id` is absent.", "1290000000000000001"))
    reply_to: Id | None = Field(None, description=about(
        "reply_to", "The message_id this one answers.", "1290000000000000001"))
    parent_message_id: Id | None = Field(None, description=about(
        "parent_message_id", "The message a thread was started from."))
    text: str | None = Field(None, description=about(
        "text", "What was said (at most CONVLOG_MAX_TEXT_CHARS characters); erasable.",
        "did the nightly export finish?"))
    occurred_at: Rfc3339 = Field(description=about(
        "occurred_at", "When it happened on the platform: RFC 3339 with an offset, "
        "1970-01-01 to 2200-01-01 in UTC.", "2026-02-01T09:30:00Z"))
    id: Id | None = Field(None, description=about(
        "id", "The gateway's own idempotency key; a retry must repeat the event exactly."))
    meta: dict[str, Any] | None = Field(None, description=about(
        "meta", "Free data (attachments, tool arguments: {\"tool\", \"arguments\"}), at "
        "most 64 KiB and 32 levels deep; erasable."))
    session_id: Id | None = Field(None, description=about(
        "session_id", "The session a summary covers, a UUID as `convlog sessions` shows."))
    position: int | None = Field(None, description=about(
        "position", "The log position of the last event a summary covers."))

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict):
            checked = bool((info.context or {}).get("strings_checked"))
            kinds = set(map(type, data.values()))
            problem = find_unstorable(data, strings_checked=checked, kinds=kinds)
            if problem is not None:
                raise coded(problem.code, problem.message, problem.where)
            # No value an int or a subclass of one: no id to convert (the common case).
            return data if kinds <= _NOT_INTEGERS else _ids_as_text(data)
        if isinstance(data, Mapping):  # the model reads any mapping; its ids alike
            return _ids_as_text(dict(data))
        return data

    @field_validator("position", mode="before")
    @classmethod
    def _position_is_an_integer(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be an integer position, not a boolean")
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 1e30 would otherwise fail as "not an integer"
        return value

    @field_validator("position")
    @classmethod
    def _position_in_range(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= MAX_POSITION:
            raise coded("POSITION_OUT_OF_RANGE",
                        f"{value} is outside 0 to {MAX_POSITION}; a position is one the log "
                        "handed out (see `convlog log stats` for the head)")
        return value

    @field_validator("session_id")
    @classmethod
    def _session_id_is_uuid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                raise coded("SESSION_ID_NOT_UUID",
                            f"{value[:80]!r} is not a UUID; use the session_id that "
                            "`convlog sessions` or `convlog resolve` shows") from None
        return value

    @field_validator("text")
    @classmethod
    def _text_within_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit = (info.context or {}).get("max_text_chars", DEFAULT_MAX_TEXT_CHARS)
        if value is not None and len(value) > limit:
            raise ValueError(
                f"is {len(value)} characters, over the limit of {limit}; "
                "split the message or raise CONVLOG_MAX_TEXT_CHARS"
            )
        return value

    @model_validator(mode="after")
    def _required_for_type(self) -> Event:
        missing = [name for name in fields_required(self.type)[4:]
                   if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.type} needs {', '.join(missing)}")
        return self

    @property
    def event_id(self) -> str:
        """The idempotency key: the gateway's own `id`, else derived from identity fields."""
        return self.identify()

    def identify(self, canonical: str | None = None) -> str:
        """`event_id`, given this event's canonical JSON when the caller has it already.

        The derivation is frozen: a retry of an event appended by any earlier
        version must derive the same id, so it is a duplicate, not a conflict.
        """
        if self.id is not None:
            return self.id
        if self.message_id is not None:
            parts: list[str | None] = [
                self.agent, self.platform, self.account, self.space, self.chat,
                self.topic, self.type, self.message_id,
            ]
            if self.type == "message.edited":
                parts.append(self.occurred_at.isoformat())
        else:
            # No platform id to anchor on: the whole event is its own identity.
            whole = self.canonical_json() if canonical is None else canonical
            return "d:" + digest(f"[{json_string(whole)}]")[:40]
        return "d:" + digest(spaced_json_list(parts))[:40]

    def as_payload(self) -> dict[str, Any]:
        """The event as stored: JSON-safe, nulls dropped, times in UTC."""
        return self.model_dump(mode="json", exclude_none=True)

    def payload_view(self) -> dict[str, Any]:
        """`as_payload()` a third faster, for an event whose meta `writes_as_json`: to
        read, not to change (its meta is the event's own, not a copy)."""
        payload = {name: value for name, value in self.__dict__.items() if value is not None}
        payload["occurred_at"] = _TIMES.dump_python(self.occurred_at, mode="json")
        return payload

    def canonical_json(self) -> str:
        return canonical_json(self.as_payload())

    def fingerprint(self) -> str:
        """A digest of the content, to tell a retried delivery from a different event."""
        return digest(self.canonical_json())

    @property
    def address(self) -> Address:
        return Address.of(self)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line or object that was refused, with the reason and the raw input kept."""

    line: int
    reason: str
    raw: str
    code: str = "INVALID_EVENT"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "reason": self.reason, "raw": self.raw}


def describe_validation_error(error: ValidationError) -> str:
    """One sentence per problem, each naming the field it concerns."""
    problems = []
    for item in error.errors(include_url=False):
        where = (item.get("ctx") or {}).get("where") or ".".join(
            str(part) for part in item["loc"]) or "event"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a field of the event contract (put free data under meta)"
        elif item["type"] == "missing":
            message = "is required"
        elif item["type"] == "literal_error" and where == "type":
            message = f"must be one of {', '.join(EVENT_TYPES)}"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def parse_event(
    obj: Any, *, line: int = 0, raw: str = "", max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    strings_checked: bool = False,
) -> Event | Rejection:
    """Validate one decoded JSON value; never raises on bad input.

    `strings_checked` says no string in `obj` holds a NUL or a lone surrogate
    (eventlog.edge.escapes_nothing_unsafe), so the edge need not look for them.
    """
    if not isinstance(obj, dict):
        return Rejection(line, f"event: must be a JSON object, got {type(obj).__name__}", raw)
    context = {"max_text_chars": max_text_chars, "strings_checked": strings_checked}
    try:
        return Event.model_validate(obj, context=context)
    except ValidationError as error:
        codes = [item["type"] for item in error.errors(include_url=False)]
        code = next((code for code in codes if code in REJECTION_CODES), "INVALID_EVENT")
        return Rejection(line, describe_validation_error(error), raw, code=code)


def stripped_line(text: str, *, line: int) -> str | Rejection:
    """A line without the whitespace around it; a line of nothing but whitespace JSON does
    not know (U+00A0, U+2028, ...) is refused, not skipped as blank: no line vanishes."""
    stripped = text.strip()
    if not stripped and text.strip(JSON_WHITESPACE):
        return Rejection(line, "line: holds only whitespace that JSON does not allow (e.g. "
                         "U+00A0); remove it, or put an event there", text,
                         code="MALFORMED_JSON")
    return stripped


def parse_line(
    data: bytes | str, *, line: int, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
) -> Event | Rejection | None:
    """Parse one JSONL line. Blank lines give None; bad lines give a Rejection."""
    from_utf8 = isinstance(data, bytes)
    if isinstance(data, bytes):
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raw = data.decode("utf-8", errors="replace")
            return Rejection(line, f"line: invalid UTF-8 at byte {error.start}", raw.rstrip("\n"),
                             code="INVALID_UTF8")
    else:
        decoded = data
    text = stripped_line(decoded, line=line)
    if isinstance(text, Rejection):
        return text
    return parse_text(text, line=line, max_text_chars=max_text_chars, from_utf8=from_utf8)


def parse_text(
    text: str, *, line: int, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    from_utf8: bool = False,
) -> Event | Rejection | None:
    """parse_line of a line already decoded and stripped; `from_utf8` says it was
    decoded from UTF-8 bytes (so it holds no lone surrogate)."""
    if not text:
        return None
    try:
        obj = read_json(text)
    except json.JSONDecodeError as error:
        return Rejection(line, f"line: malformed JSON ({error.msg} at column {error.colno})",
                         text, code="MALFORMED_JSON")
    except RecursionError:
        return Rejection(line, "line: nested too deeply to read; meta may nest "
                         f"{MAX_META_DEPTH} levels", text, code="META_TOO_DEEP")
    except ValueError:  # an integer over Python's digit limit for conversions (4300)
        return Rejection(line, "line: holds an integer too long to read (over 4300 digits); "
                         "send it as a string", text, code="NON_FINITE_NUMBER")
    return parse_event(obj, line=line, raw=text, max_text_chars=max_text_chars,
                       strings_checked=escapes_nothing_unsafe(text, from_utf8=from_utf8))
