"""What each event type requires, and how its fields describe themselves (the model's
validator, its JSON schema and the OpenAPI document's per-type schemas read these)."""

from __future__ import annotations

# Fields each type needs beyond the envelope (type, agent, platform, occurred_at).
# chat and chat_type are needed by every type except summary.recorded, which
# names a projection's session instead of an address.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "message.received": ("sender", "message_id", "text"),
    "message.sent": ("message_id", "reply_to", "text"),
    "tool.used": ("reply_to", "text"),
    "message.edited": ("message_id", "text"),
    "message.deleted": ("message_id",),
    "thread.created": ("topic", "parent_message_id"),
    "session.reset": (),
    "summary.recorded": ("session_id", "position", "text"),
    "content.redacted": ("message_id",),
}


def fields_required(event_type: str) -> tuple[str, ...]:
    """Every field an event of this type must carry: the envelope (type, agent, platform,
    occurred_at), the chat and its type (but for a summary), and the type's own."""
    where = () if event_type == "summary.recorded" else ("chat", "chat_type")
    return ("type", "agent", "platform", "occurred_at", *where, *REQUIRED_FIELDS[event_type])


def needed_by(field: str) -> str:
    """"Required by ..." for a field's description, from REQUIRED_FIELDS (never stale)."""
    if field in ("chat", "chat_type"):
        return " Required by every type but summary.recorded."
    types = [name for name, needed in REQUIRED_FIELDS.items() if field in needed]
    return f" Required by {', '.join(types)}." if types else ""


def about(field: str, text: str, *examples: str) -> str:
    """A field's description: what it is, which types need it, and an example."""
    shown = f" Example: {examples[0]!r}." if examples else ""
    return text + needed_by(field) + shown
