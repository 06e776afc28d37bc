"""Erasure: a sender's, a message's or a chat's content removed from all a reader can reach.

The log keeps every envelope (positions, addresses, ids, types, times, token
counts), so projections stay consistent without a rebuild; the content (text,
sender_name, meta) lives apart in `event_content` and is removed there by one
privileged database function, `convlog_erase`, which also records the erasure in
the append-only `erasures` audit. Summaries derived from an erased message are
erased with it. See docs/erasure.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from eventlog.errors import DatabaseError, EventLogError

Kind = Literal["sender", "message", "chat"]
MAX_REASON_CHARS = 1000


class ErasureError(EventLogError):
    """An erasure that cannot be run as asked; nothing was erased."""

    code = "ERASURE"


@dataclass(frozen=True, slots=True)
class Identity:
    """A sender on a platform; platform None means that id on every platform."""

    platform: str | None
    sender: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.sender}" if self.platform else f"*:{self.sender}"


@dataclass(frozen=True, slots=True)
class Selector:
    """What to erase, as typed (`text`) and as the database function takes it."""

    kind: Kind
    text: str
    targets: tuple[dict[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class ErasureResult:
    erasure_id: int | None
    selector: Selector
    events_matched: int
    contents_erased: int
    summaries_erased: int

    @property
    def dry_run(self) -> bool:
        return self.erasure_id is None

    def as_dict(self) -> dict[str, Any]:
        return {"erasure": self.erasure_id, "dry_run": self.dry_run,
                "kind": self.selector.kind, "selector": self.selector.text,
                "targets": list(self.selector.targets),
                "events_matched": self.events_matched,
                "contents_erased": self.contents_erased,
                "summaries_erased": self.summaries_erased}


def _split_platform(value: str, option: str, example: str) -> tuple[str, str]:
    platform, colon, rest = value.partition(":")
    if not colon or not platform or not rest:
        raise ErasureError(f"{option} {value!r} must look like {example}",
                           code="INVALID_SELECTOR")
    return platform, rest


def sender_selector(value: str, linked: Iterable[Identity] = ()) -> Selector:
    """`PLATFORM:ID` (the ID may contain colons), plus identities linked to it."""
    platform, sender = _split_platform(value, "--sender", "PLATFORM:ID, e.g. discord:111")
    identities = [Identity(platform, sender)]
    identities += [i for i in linked if i not in identities]
    return Selector("sender", value, tuple({"platform": i.platform, "sender": i.sender}
                                           for i in identities))


def chat_selector(value: str) -> Selector:
    platform, chat = _split_platform(value, "--chat", "PLATFORM:CHAT, e.g. telegram:-100123")
    return Selector("chat", value, ({"platform": platform, "chat": chat},))


def message_selector(conn: Connection, value: str) -> Selector:
    """`PLATFORM:CHAT:MESSAGE_ID`, read against the log when ids themselves hold colons.

    Every split of the part after the platform into chat and message id is tried;
    the one message the log knows wins (the last colon when it knows none).
    """
    example = "PLATFORM:CHAT:MESSAGE_ID, e.g. discord:1000000001:m42"
    platform, rest = _split_platform(value, "--message", example)
    splits = [(rest[:i], rest[i + 1:]) for i, ch in enumerate(rest)
              if ch == ":" and 0 < i < len(rest) - 1]
    if not splits:
        raise ErasureError(f"--message {value!r} must look like {example}",
                           code="INVALID_SELECTOR")
    known = conn.execute(text(
        "SELECT DISTINCT chat, message_id FROM events WHERE platform = :platform "
        "AND (chat, message_id) IN (SELECT * FROM unnest(CAST(:chats AS text[]), "
        "CAST(:ids AS text[])))"),
        {"platform": platform, "chats": [c for c, _ in splits], "ids": [m for _, m in splits]},
    ).all()
    if len(known) > 1:
        found = ", ".join(f"{platform}:{chat}:{mid}" for chat, mid in known)
        raise ErasureError(f"--message {value!r} names more than one message ({found}); "
                           "erase each with --chat or ask for help", code="AMBIGUOUS_MESSAGE")
    chat, message_id = (known[0][0], known[0][1]) if known else splits[-1]
    return Selector("message", value,
                    ({"platform": platform, "chat": chat, "message_id": message_id},))


def checked_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned or len(cleaned) > MAX_REASON_CHARS:
        raise ErasureError(f"--reason must be 1 to {MAX_REASON_CHARS} characters (a ticket or "
                           "request reference; it is kept in the audit, so name no content)",
                           code="REASON_REQUIRED")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise ErasureError("--reason must be one line without control characters",
                           code="REASON_REQUIRED")
    return cleaned


def _call(conn: Connection, selector: Selector, reason: str, *, dry_run: bool) -> ErasureResult:
    try:
        row = conn.execute(text(
            "SELECT erasure, matched, contents, summaries FROM convlog_erase("
            ":kind, :selector, CAST(:targets AS jsonb), :reason, :dry_run)"),
            {"kind": selector.kind, "selector": selector.text,
             "targets": json.dumps(list(selector.targets)), "reason": reason,
             "dry_run": dry_run}).one()
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == "42501":  # insufficient_privilege
            raise ErasureError(
                "this database role may not erase; connect as a member of convlog_operator "
                "(see docs/roles.md)", code="ERASE_NOT_PERMITTED") from None
        raise DatabaseError(f"erase failed: {error.orig}; nothing was erased, so it can be "
                            "retried as it is") from error
    return ErasureResult(row.erasure, selector, row.matched, row.contents, row.summaries)


def preview(engine: Engine, selector: Selector) -> ErasureResult:
    """What `erase` would do now, erasing nothing and recording nothing."""
    with engine.connect() as conn:
        return _call(conn, selector, "preview", dry_run=True)


def erase(engine: Engine, selector: Selector, reason: str, *,
          and_future: bool = False) -> ErasureResult:
    """Erase and audit in one transaction; repeating it erases nothing more.

    `and_future` (a sender's erasure only): what those senders write from now on is
    erased as it arrives, under this erasure's id; the audit's targets say so.
    """
    checked = checked_reason(reason)
    if and_future:
        if selector.kind != "sender":
            raise ErasureError("--and-future erases what a sender writes later: it goes "
                               "with --sender only", code="INVALID_SELECTOR")
        selector = Selector(selector.kind, selector.text,
                            tuple({**t, "and_future": "yes"} for t in selector.targets))
    with engine.begin() as conn:
        result = _call(conn, selector, checked, dry_run=False)
        if and_future:
            conn.execute(text("SELECT convlog_erase_watch(:erasure, CAST(:targets AS jsonb))"),
                         {"erasure": result.erasure_id,
                          "targets": json.dumps(list(selector.targets))})
        return result

