"""Structural diagnostics: pydantic's errors for one policy section, mapped to coded Diagnostics."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from projections.errors import Diagnostic
from projections.policy.models import Policy
from projections.policy.paths import Loc, allowed_keys, render_path

# Section of the policy -> the code its structural errors get.
_SECTION_CODES = {
    "name": "INVALID_NAME",
    "dm_scope": "INVALID_DM_SCOPE",
    "account_dm_scopes": "INVALID_DM_SCOPE",
    "gateways": "INVALID_GATEWAYS",
    "identity_links": "INVALID_IDENTITY_LINK",
    "channel_groups": "INVALID_CHANNEL_GROUP",
    "spaces": "INVALID_SPACE",
    "threads": "INVALID_THREADS",
    "rules": "INVALID_RULE",
    "reset": "INVALID_RESET",
    "compaction": "INVALID_COMPACTION",
    "dimensions": "UNKNOWN_DIMENSION",
    "encoding": "UNKNOWN_ENCODING",
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


def section_diagnostics(key: Any, value: Any) -> list[Diagnostic]:
    """The structural errors of one top-level policy key, validated on its own."""
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


def _unknown_key_message(loc: Loc) -> str:
    key = str(loc[-1])
    allowed = allowed_keys(loc[:-1])
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
