"""Context assembly: a session's summary and newest messages within a token budget."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from eventlog.database import driver_rows, driver_statement
from eventlog.schema import log_horizon
from eventlog.tokens import TokenCounter, ensure_counted
from projections.errors import ContextError
from projections.members import FULL_IN, full_page, kept_page
from projections.rendered import Item, Kept

PAGE = 512  # members a page: a budget of 8,000 tokens holds a few hundred messages
_TOKENS, _POSITION = attrgetter("tokens"), attrgetter("position")
# A member after the projection's checkpoint (`projections.ahead`): its position, its own
# count (what running totals add for it) and its rendering (None: erased, not shown).
Ahead = tuple[int, int, Item | None]


@dataclass
class Context:
    session_id: uuid.UUID
    key: str
    budget: int
    as_of: int | None
    summary: dict[str, Any] | None = None
    items: list[Item] = field(default_factory=list)
    left_out_messages: int = 0
    left_out_tokens: int = 0
    summary_left_out: bool = False
    inherited_from: uuid.UUID | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        rendered: list[dict[str, Any]] = []
        if self.summary is not None:
            rendered.append(self.summary_message())
        for item in self.items:
            rendered.extend(item.messages)
        return rendered

    def summary_message(self) -> dict[str, Any]:
        """The summary as the context's first message (only when there is one)."""
        assert self.summary is not None
        return {"role": "system", "content": self.summary["text"],
                "source": {"summary_of": self.summary["covers_position"],
                           "tokens": self.summary["tokens"]}}

    @property
    def message_tokens(self) -> int:
        return sum(map(_TOKENS, self.items))

    @property
    def summary_tokens(self) -> int:
        return self.summary["tokens"] if self.summary else 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.fields(), "messages": self.messages}

    def fields(self) -> dict[str, Any]:
        """`as_dict` without the messages."""
        summary, messages = self.summary_tokens, self.message_tokens
        return {
            "session_id": str(self.session_id), "key": self.key, "budget": self.budget,
            "as_of": self.as_of,
            "tokens": {"summary": summary, "messages": messages, "total": summary + messages},
            "left_out": {"messages": self.left_out_messages, "tokens": self.left_out_tokens,
                         "summary": self.summary_left_out},
            "inherited_from": str(self.inherited_from) if self.inherited_from else None,
        }


@lru_cache(maxsize=4096)
def _prefix_tokens(counter: TokenCounter, prefix: str) -> int:
    return counter.count(prefix)


# The session and its newest summary in one statement (a turn's hot path); an erased
# summary (derived from erased messages) counts as never recorded. Made once: a statement
# made anew per call costs SQLAlchemy its cache key on every turn.
class SessionRow(NamedTuple):
    """A row of _SESSION (SESSION_COLUMNS): the summary's fields are None without one, the
    parent's without a parent."""

    key: str
    parent_session_id: uuid.UUID | None
    parent_position: Any
    first_position: int
    covers_position: int | None
    tokens: Any
    text: str | None
    generation: int  # of content (projections.members): kept items stand while it does


# The session's columns (with `SESSION_SUMMARY` joined as `summary`), in SessionRow order.
SESSION_COLUMNS = ("s.key, s.parent_session_id, s.parent_position, s.first_position, "
                   "summary.covers_position, summary.tokens, summary.text, "
                   "(SELECT g.n FROM content_generation g)")
SESSION_SUMMARY = (
    "LEFT JOIN LATERAL (SELECT x.covers_position, {tokens} AS tokens, c.text "
    "FROM session_summaries x JOIN event_content c ON c.position = x.position "
    "WHERE x.projection_id = s.projection_id AND x.session_id = s.session_id "
    "AND x.position <= {upper} AND c.erased_by IS NULL "
    "ORDER BY x.covers_position DESC, x.position DESC LIMIT 1) summary ON true ")
_SESSION_SQL = (f"SELECT {SESSION_COLUMNS} FROM sessions s "
                f"{SESSION_SUMMARY.replace('{upper}', ':upper')}"
                "WHERE s.projection_id = :p AND s.session_id = :s")
_SESSION = driver_statement(text(_SESSION_SQL.format(tokens="x.tokens")))
# The same with the summary's count in another encoding than the projection's.
_SESSION_IN = text(_SESSION_SQL.format(
    tokens="(SELECT t.tokens FROM token_counts t WHERE t.encoding = :encoding "
           "AND t.position = x.position)"))


class ContextAssembler:
    """Builds contexts by walking a session backwards from its newest member.

    Each page is an index range scan on (projection, session, position), so the
    cost is one index descent plus the window returned, whatever the history's size.
    """

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.encoding: str | None = None  # of the assembly under way; None: the projection's
        # Members rendered in the projection's counts, for later contexts: without and
        # with their senders tagged (`tag_senders`).
        self.kept = (Kept(), Kept())

    def forget_rendered(self) -> None:
        """Let go of every member kept (an erasure's notice: see `Kept`)."""
        for kept in self.kept:
            kept.forget()

    def assemble(self, conn: Connection, projection_id: int, session_id: uuid.UUID, *,
                 budget: int, as_of: int | None = None, tag_senders: bool = False,
                 encoding: str | None = None) -> Context:
        """The session's context within `budget` tokens.

        With `encoding`, the token figures and the budget are in that encoding's
        counts (token_counts), counted first if they are missing, in the caller's
        transaction; without, in the projection's own (the counts it folded).
        """
        if budget < 0:
            raise ContextError("the budget must be zero or more tokens", code="INVALID_BUDGET")
        if encoding is not None:
            # Never assemble on a missing count: count what is not yet counted first.
            head = log_horizon(conn)
            ensure_counted(conn, encoding, head if as_of is None else min(as_of, head),
                           self.counter if encoding == self.counter.encoding_name else None)
        assembler = self if encoding is None else self._in(encoding)
        return assembler._assemble(conn, projection_id, session_id, budget=budget,
                                   as_of=as_of, tag_senders=tag_senders)

    def _in(self, encoding: str) -> ContextAssembler:
        counter = (self.counter if encoding == self.counter.encoding_name
                   else TokenCounter(encoding))
        other = ContextAssembler(counter)
        other.encoding = encoding
        return other

    def assemble_ahead(self, conn: Connection, projection_id: int, session_id: uuid.UUID, *,
                       checkpoint: int, ahead: Sequence[Ahead], budget: int,
                       tag_senders: bool, session: SessionRow | None = None) -> Context:
        """The context of a session the projection holds up to `checkpoint`, completed by
        `ahead`: its members after the checkpoint, newest first, rendered by the caller
        (`projections.ahead`). In the projection's own counts. `session`: its row as of
        the checkpoint, if the caller read it."""
        context = self._assemble(conn, projection_id, session_id, budget=budget,
                                 as_of=checkpoint, tag_senders=tag_senders, ahead=ahead,
                                 session=session)
        context.as_of = None
        return context

    @staticmethod
    def take_ahead(context: Context, ahead: Sequence[Ahead], floor: int,
                   remaining: int) -> int | None:
        """Add `ahead` (newest first; those above `floor`) while it fits, as `_walk` adds
        members: the budget left, or None when it stopped the walk, having counted as left
        out the member that did not fit and every older one (as running totals would)."""
        for n, (position, _, item) in enumerate(ahead):
            if position <= floor or item is None:
                continue
            if item.tokens > remaining:
                rest = [member for member in ahead[n:] if member[0] > floor]
                context.left_out_messages += len(rest)
                context.left_out_tokens += sum(member[1] for member in rest)
                return None
            remaining -= item.tokens
            context.items.append(item)
        return remaining

    def _assemble(self, conn: Connection, projection_id: int, session_id: uuid.UUID, *,
                  budget: int, as_of: int | None, tag_senders: bool,
                  ahead: Sequence[Ahead] = (), session: SessionRow | None = None) -> Context:
        upper = as_of if as_of is not None else 2**62
        params = {"p": projection_id, "s": session_id, "upper": upper, "encoding": self.encoding}
        if session is None:
            found = (driver_rows(conn, _SESSION, params) if self.encoding is None
                     else conn.execute(_SESSION_IN, params).all())
            if not found:
                raise ContextError(f"no session {session_id} in this projection; see "
                                   "`convlog sessions`", code="UNKNOWN_SESSION")
            session = SessionRow(*found[0])
        if self.encoding is None:
            for kept in self.kept:
                kept.advance(session.generation)
        context = Context(session_id, session.key, budget, as_of)
        floor = 0
        if session.covers_position is not None:
            floor = int(session.covers_position)
            if session.tokens <= budget:
                context.summary = {"text": session.text, "tokens": session.tokens,
                                   "covers_position": session.covers_position}
            else:
                context.summary_left_out = True
        remaining = self.take_ahead(context, ahead, floor, budget - context.summary_tokens)
        if remaining is None:  # the budget stopped within `ahead`: the rest is left out too
            seq, running = self._at(conn, projection_id, session_id, min(floor, upper))
            last_seq, last_running = self._at(conn, projection_id, session_id, upper)
            context.left_out_messages += last_seq - seq
            context.left_out_tokens += last_running - running
            full = True
        else:
            full = self._walk(conn, projection_id, session_id, upper, floor, remaining,
                              context, tag_senders, session.generation)
        if (not full and floor == 0 and session.parent_session_id is not None
                and (as_of is None or as_of >= session.first_position)):
            # inherit_parent: the thread begins with its parent's context up to the
            # point the thread was created, read by reference from the parent session.
            context.inherited_from = session.parent_session_id
            parent_upper = min(session.parent_position, upper)
            used = context.summary_tokens + context.message_tokens
            self._walk(conn, projection_id, session.parent_session_id, parent_upper, 0,
                       budget - used, context, tag_senders, session.generation)
        if context.inherited_from is None:
            context.items.reverse()  # walked newest first
        else:
            context.items.sort(key=_POSITION)
        return context

    def _walk(self, conn: Connection, projection_id: int, session_id: uuid.UUID, upper: int,
              floor: int, remaining: int, context: Context, tag_senders: bool,
              generation: int) -> bool:
        """Add members newest first while they fit; True when the budget stopped the walk."""
        cursor = upper
        kept = self.kept[tag_senders] if self.encoding is None else None
        render = partial(self.render, tag_senders=tag_senders)
        while True:
            params = {"p": projection_id, "s": session_id, "upper": cursor, "floor": floor,
                      "as_of": upper, "page": PAGE, "encoding": self.encoding}
            page = (kept_page(conn, params, kept, generation, render) if kept is not None
                    else full_page(conn.execute(FULL_IN, params).all(), render))
            for position, at_seq, at_running, item in page:
                if item is None:
                    continue
                if item.tokens > remaining:
                    seq, running = self._at(conn, projection_id, session_id, floor)
                    context.left_out_messages += at_seq - seq
                    context.left_out_tokens += (
                        at_running - running if self.encoding is None
                        else self._sum_in(conn, projection_id, session_id, floor, position))
                    return True
                remaining -= item.tokens
                context.items.append(item)
            if len(page) < PAGE:
                return False
            cursor = page[-1][0] - 1

    def _sum_in(self, conn: Connection, projection_id: int, session_id: uuid.UUID,
                floor: int, position: int) -> int:
        """The members' tokens in floor < position <= `position`, in this assembly's encoding
        (what running_tokens differences give in the projection's own)."""
        return int(conn.execute(text(
            "SELECT coalesce(sum(t.tokens), 0) FROM session_members m JOIN token_counts t "
            "ON t.encoding = :encoding AND t.position = m.position WHERE m.projection_id = :p "
            "AND m.session_id = :s AND m.position > :floor AND m.position <= :pos"),
            {"encoding": self.encoding, "p": projection_id, "s": session_id,
             "floor": floor, "pos": position}).scalar_one())

    @staticmethod
    def _at(conn: Connection, projection_id: int, session_id: uuid.UUID,
            position: int) -> tuple[int, int]:
        """(seq, running tokens) of the session's last member at or before `position`."""
        if position <= 0:
            return 0, 0
        row = conn.execute(text(
            "SELECT seq, running_tokens FROM session_members WHERE projection_id = :p "
            "AND session_id = :s AND position <= :pos ORDER BY position DESC LIMIT 1"),
            {"p": projection_id, "s": session_id, "pos": position}).first()
        return (int(row.seq), int(row.running_tokens)) if row else (0, 0)

    def render(self, row: Any, tag_senders: bool) -> Item | None:
        # Unpacked once: a context renders hundreds of rows on a gateway's every turn, and
        # a row's fields by name cost more than the rest of the rendering.
        (position, _seq, kind, sender, original_tokens, _running, platform, chat, topic,
         text_, sender_name, meta, erased, change, changed_tokens, edited_text,
         edit_erased) = row
        if change is not None and (change in ("deleted", "redacted") or (
                change == "edited" and edit_erased)):
            return None
        if erased:
            return None
        edited = change == "edited"
        body = (edited_text if edited else text_) or ""
        tokens = changed_tokens if edited else original_tokens
        source = {"platform": platform, "chat": chat, "topic": topic, "position": position,
                  "tokens": tokens}
        name = sender_name or sender
        if kind == "tool":
            return self._render_tool(meta, body, tokens, source, position)
        role = "user" if kind == "user" else "assistant"
        if tag_senders and role == "user":
            prefix = f"[{name or 'someone'} in {_place(chat, topic)}] "
            body = prefix + body
            tokens += _prefix_tokens(self.counter, prefix)
            source["tokens"] = tokens
        message: dict[str, Any] = {"role": role, "content": body, "source": source}
        if role == "user" and name:
            message["name"] = _safe_name(name)
        return Item((message,), tokens, position)

    @staticmethod
    def _render_tool(meta: dict[str, Any] | None, body: str, tokens: int,
                     source: dict[str, Any], position: int) -> Item:
        # A tool event is the call and its result together: both messages go in or
        # neither does, so a result never appears without the call that produced it.
        meta = meta or {}
        call_id = f"call_{position}"
        call = {"role": "assistant", "content": None, "source": source,
                "tool_calls": [{"id": call_id, "type": "function", "function": {
                    "name": str(meta.get("tool", "tool")),
                    "arguments": _arguments(meta.get("arguments", meta.get("args", {})))}}]}
        result = {"role": "tool", "tool_call_id": call_id, "content": body, "source": source}
        return Item((call, result), tokens, position)


def _place(chat: str | None, topic: str | None) -> str:
    if topic:
        return f"#{chat}/{topic}"
    return f"#{chat}"


@lru_cache(maxsize=8192)  # a context names the same few people hundreds of times
def _safe_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)
    return cleaned[:64] or "user"


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
