"""The pure resolver: an event under a scope policy gives its session key, id, legacy keys, why."""

from projections.resolver.canonical import (
    MEMO_LIMIT,
    SESSION_NAMESPACE,
    Part,
    escape_component,
    format_key,
    parse_key,
    unescape_component,
)
from projections.resolver.compiled import (
    AGENT_AUTHORED,
    CompiledPolicy,
    ReplyLookup,
    Resolution,
    compile_policy,
    resolve,
    session_id_for,
)
from projections.resolver.placer import Addressed

__all__ = [
    "AGENT_AUTHORED",
    "MEMO_LIMIT",
    "SESSION_NAMESPACE",
    "Addressed",
    "CompiledPolicy",
    "Part",
    "ReplyLookup",
    "Resolution",
    "compile_policy",
    "escape_component",
    "format_key",
    "parse_key",
    "resolve",
    "session_id_for",
    "unescape_component",
]
