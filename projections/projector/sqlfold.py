"""A fold in which Python sees distinct values only: every per-event decision is SQL.

The hybrid fold (`fold_batch`) walks each event in Python; this one asks the
server for what is distinct in the batch's range of positions (addresses,
texts that may be reset commands, summaries' and threads' payload fields),
resolves those with the compiled policy, and ships the answers back as small
temporary tables. The rest follows from one observation about heads: per key,
in position order, an event that starts a new epoch depends only on the key's
previous such event, the key's last user message and the stored head, so
epochs, `started_by` and which event opens a session are window functions
(see `sqlfold_statements.KEY_EVENTS`). Replies follow the first member with
the answered message id, a recursive query when replies answer replies. The
result is row for row what `fold_batch` writes; the differential tests hold
the two to that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection

from eventlog.envelopes import Envelope
from eventlog.tokens import ensure_counted
from projections.projector import sqlfold_statements as decide
from projections.projector import sqlfold_writes as write
from projections.projector.assign import EARLIEST, check_foldable, summary_target
from projections.projector.interface import FoldOutcome
from projections.projector.state import TRIGGER_TEXT_CHARS
from projections.resolver import CompiledPolicy, session_id_for

# Every character Python's str.isspace accepts: a text starting with one may still
# begin with a trigger word, so it is a candidate like a trigger's initial.
_SPACES = tuple(c for c in map(chr, range(0x3001)) if c.isspace())

Failure = tuple[int, int, BaseException]  # (position, order within the event, error)


def _prepare(sql: str) -> str:
    """`:name` placeholders as psycopg's, every parameter sent in binary."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)b", sql.replace("%", "%%"))


class _Statements:
    """Each statement prepared once, by name."""

    def __init__(self) -> None:
        self.sql: dict[str, str] = {}
        for module in (decide, write):
            for name, value in vars(module).items():
                if name.isupper() and isinstance(value, str):
                    self.sql[name] = _prepare(value)


_SQL = _Statements().sql


def _run(conn: Connection, name: str, params: dict[str, Any] | None = None
         ) -> psycopg.Cursor[Any]:
    cursor: psycopg.Cursor[Any] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(_SQL[name], params or {})
    return cursor


def fold_sql(conn: Connection, projection_id: int, policy: CompiledPolicy,
             events: Sequence[Envelope], /) -> FoldOutcome:
    """A BatchFold that writes what `fold_batch` writes, deciding per event in SQL."""
    lo, hi = events[0].position, events[-1].position
    encoding = getattr(policy, "encoding", None) or "cl100k_base"
    ensure_counted(conn, encoding, hi)
    span = {"lo": lo, "hi": hi}
    _run(conn, "SETTINGS")
    _run(conn, "DROP_TEMP_TABLES")
    loaded = _run(conn, "EVENTS", {**span, "sender_matters": policy.sender_matters}).rowcount
    if loaded != len(events):
        # Not every event of the range is the batch's (a slice of a parallel build).
        _run(conn, "KEEP_ONLY", {"positions": "{" + ",".join(
            str(e.position) for e in events) + "}"})
    failures: list[Failure] = []
    _check_times(conn, failures)
    _addresses(conn, policy, failures)
    _payloads(conn, span, failures)
    if failures:
        raise min(failures, key=lambda f: (f[0], f[1]))[2]
    _triggers(conn, policy)
    p = projection_id
    reset = policy.policy.reset
    _run(conn, "REF_NAMES")
    _run(conn, "REFS", {"p": p})
    _run(conn, "EVENT_REFS")
    _run(conn, "HEADS", {"p": p})
    _run(conn, "KEY_EVENTS", {"p": p, "mode": reset.mode, "idle": reset.idle_minutes,
                              "zone": reset.timezone or "UTC", "at_hour": reset.at_hour})
    _run(conn, "INDEX_KEY_EVENTS")
    pairs = _run(conn, "DISTINCT_EPOCHS").fetchall()
    _run(conn, "CREATE_SIDS", {"keys": [k for k, _ in pairs], "epochs": [e for _, e in pairs],
                               "sessions": [session_id_for(policy, k, e) for k, e in pairs]})
    _run(conn, "MEMBERS")
    for name in ("ORIGINS", "CHANGES", "SUMMARIES"):
        _run(conn, name, {"p": p, "encoding": encoding, **span})
    written = {"p": p, "encoding": encoding, **span}
    members = _run(conn, "WRITE_MEMBERS", written).rowcount
    for name in ("WRITE_CHANGES", "WRITE_SUMMARIES", "WRITE_HEADS"):
        _run(conn, name, written)
    touched = _run(conn, "WRITE_SESSIONS", {
        "p": p, "inherit": policy.policy.threads.inherit_parent,
        **_compaction(policy)}).rowcount
    # Last: a session opened in this batch looks for its thread's origin among the
    # stored ones and this batch's earlier ones, which this insert would mix.
    _run(conn, "WRITE_ORIGINS", {"p": p})
    return FoldOutcome(members=members, sessions_touched=touched)


def _envelope(position: int, type_: str, *address: Any, at: datetime = EARLIEST,
              fields: dict[str, Any] | None = None) -> Envelope:
    """An envelope for the resolver or the checks: the address, or a time, or payload fields."""
    agent, platform, account, space, chat, chat_type, topic, sender, reply_to = (
        address or ("", "", "", None, None, None, None, None, None))
    return Envelope(position, type_, agent, platform, account, space, chat, chat_type, topic,
                    sender, None, reply_to, at, None, fields)


def _check_times(conn: Connection, failures: list[Failure]) -> None:
    row = _run(conn, "OUT_OF_RANGE").fetchone()
    if row is not None:
        try:
            check_foldable(_envelope(row[0], "message.received", at=row[1]))
        except Exception as error:  # the check's own error, raised for this event below
            failures.append((row[0], 0, error))


def _addresses(conn: Connection, policy: CompiledPolicy, failures: list[Failure]) -> None:
    """Resolve each distinct address of the batch once; ship the answers as `sf_addr`."""
    addrs: list[int] = []
    keys: list[str] = []
    legacy: list[str] = []
    threads: list[bool] = []
    parents: list[str | None] = []
    resolve = policy.resolve
    for row in _run(conn, "ADDRESSES"):
        try:
            resolution = resolve(_envelope(row[1], row[2], *row[3:]))
        except Exception as error:  # a ResolveError is the event's to blame: quarantined
            failures.append((row[1], 1, error))
            continue
        addrs.append(row[0])
        keys.append(resolution.key)
        legacy.append(json.dumps(dict(resolution.legacy), sort_keys=True))
        threads.append(resolution.is_thread)
        parents.append(resolution.parent_key)
    _run(conn, "CREATE_ADDR", {"addrs": addrs, "keys": keys, "legacy": legacy,
                               "threads": threads, "parents": parents})


def _payloads(conn: Connection, span: dict[str, int], failures: list[Failure]) -> None:
    """Summaries' targets (refused as `fold_batch` refuses them) and non-text thread parents."""
    positions: list[int] = []
    sessions: list[Any] = []
    covers: list[int] = []
    thread_positions: list[int] = []
    thread_refs: list[str] = []
    for position, type_, session, covered, parent in _run(conn, "PAYLOADS", span):
        if type_ == "thread.created":
            if parent:  # as the hybrid fold tests it: a falsy parent names no message
                thread_positions.append(position)
                thread_refs.append(str(parent))
            continue
        try:
            target = summary_target(_envelope(position, type_, fields={
                "session_id": session, "position": covered}))
        except Exception as error:  # UnfoldableEvent, raised for this event below
            failures.append((position, 1, error))
            continue
        positions.append(position)
        sessions.append(target[0])
        covers.append(target[1])
    _run(conn, "CREATE_SUMMARIES", {"positions": positions, "sessions": sessions,
                                    "covers": covers})
    if thread_positions:
        _run(conn, "SET_THREAD_REFS", {"positions": thread_positions, "refs": thread_refs})


def _triggers(conn: Connection, policy: CompiledPolicy) -> None:
    """Mark the received texts that are reset commands, testing only the candidates."""
    if not policy.triggers:
        return
    initials = sorted(policy.trigger_initials) + list(_SPACES)
    found = [position for position, text in _run(conn, "TRIGGER_CANDIDATES", {
        "chars": TRIGGER_TEXT_CHARS, "initials": initials}) if policy.is_reset_trigger(text)]
    if found:
        _run(conn, "MARK_TRIGGERS", {"positions": found})


def _compaction(policy: CompiledPolicy) -> dict[str, object]:
    """The policy's thresholds as parameters; None leaves a rule out (NULL compares false)."""
    compaction = policy.policy.compaction
    return {
        "threshold": compaction.summarize_threshold or None,
        "token_limit": (compaction.context_limit_tokens
                        * compaction.summarize_token_percent / 100),
        "percent": f"{compaction.summarize_token_percent}",
        "context_limit": compaction.context_limit_tokens,
        "max_messages": compaction.max_messages,
        "max_age": compaction.max_age_minutes,
    }
