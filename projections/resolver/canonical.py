"""The session key grammar (escaped `name=value` parts joined by '/') and session uuids."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from functools import lru_cache

SESSION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://convlog.invalid/session")
# How many entries each of the resolver's memos (and the session uuid cache) may hold.
MEMO_LIMIT = 65_536
_NAMESPACE_BYTES = SESSION_NAMESPACE.bytes
# RFC 4122 variant and version 5 bits, as uuid.UUID(bytes=..., version=5) sets them.
_VERSION_5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_5_SET = (0x8000 << 48) | (5 << 76)

Part = tuple[str, str]

_UNSAFE = re.compile(r"[%/=:\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ESCAPED = re.compile(r"(?:%[0-9A-F]{2})+")


def _escape_match(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogatepass"))


def escape_component(value: str) -> str:
    """Percent-encode '%', the separators '/', '=', ':', whitespace and control characters."""
    if _UNSAFE.search(value) is None:
        return value  # the common case, checked without building a new string
    return _UNSAFE.sub(_escape_match, value)


def unescape_component(text: str) -> str:
    return _ESCAPED.sub(
        lambda m: bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "surrogatepass"),
        text,
    )


def format_key(parts: Iterable[Part]) -> str:
    """`name=value` components joined by '/', values escaped: distinct parts, distinct keys."""
    return "/".join([name + "=" + escape_component(value) for name, value in parts])


def parse_key(key: str) -> tuple[Part, ...]:
    """The components of a canonical key (the inverse of format_key)."""
    parts = []
    for component in key.split("/"):
        name, _, value = component.partition("=")
        parts.append((name, unescape_component(value)))
    return tuple(parts)


@lru_cache(maxsize=MEMO_LIMIT)
def session_uuid(fingerprint: str, key: str, epoch: int) -> uuid.UUID:
    """The session id of a key at an epoch under the grouping with this fingerprint."""
    # uuid5, spelled out so that keys holding lone surrogates (legal in a Python str)
    # still hash: the key format escapes them, but the id must not depend on that.
    name = f"{fingerprint}/{epoch}/{key}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    return uuid.UUID(int=int.from_bytes(digest[:16], "big") & _VERSION_5_CLEAR | _VERSION_5_SET)
