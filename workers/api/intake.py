"""Appends over HTTP: a JSON array or NDJSON body parsed as ingest parses it, per-line results.

The log's own parser decides what is accepted, so the edge refuses exactly what
`convlog ingest` refuses, with the same codes. The store answers per event (its
position, whether this call appended it); a fenced reply is checked by the store
under its own append lock, in the append's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from eventlog.access import Principal
from eventlog.appending import Admit, AppendResult, PreparedEvent, prepare
from eventlog.events import Event, Rejection, parse_event, parse_line
from projections.leases import fencing_problem
from workers.api.problems import ApiError
from workers.api.schemas import AppendResponse, EventResult
from workers.api.services import Services

# For fenced appends: which session an event lands in, read inside the append's transaction.
SessionOf = Callable[[Connection, Event], uuid.UUID]
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq",
                "text/plain", "application/ndjson")


@dataclass
class Parsed:
    events: list[Event] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.events) + len(self.rejected)


def _whole_body_rejection(body: bytes, error: Exception) -> Rejection:
    raw = body[:200].decode("utf-8", errors="replace")
    if isinstance(error, UnicodeDecodeError):
        return Rejection(1, "body: invalid UTF-8", raw, code="INVALID_UTF8")
    if isinstance(error, RecursionError):
        return Rejection(1, "body: nested too deeply to read", raw, code="META_TOO_DEEP")
    if isinstance(error, json.JSONDecodeError):
        return Rejection(1, f"body: malformed JSON ({error.msg} at line {error.lineno}, column "
                         f"{error.colno})", raw, code="MALFORMED_JSON")
    return Rejection(1, "body: holds an integer too long to read (over 4300 digits)", raw,
                     code="NON_FINITE_NUMBER")


def parse_body(body: bytes, content_type: str, *, max_text_chars: int, max_batch: int) -> Parsed:
    """Events and rejections, numbered from 1 by array item or by line."""
    parsed = Parsed()
    media = content_type.split(";")[0].strip().lower()
    if media in NDJSON_TYPES or (media != "application/json" and b"\n" in body.strip()):
        return _parse_lines(body, parsed, max_text_chars, max_batch)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        if isinstance(error, json.JSONDecodeError) and error.msg == "Extra data":
            return _parse_lines(body, parsed, max_text_chars, max_batch)  # NDJSON sent as JSON
        parsed.rejected.append(_whole_body_rejection(body, error))
        return parsed
    items = document if isinstance(document, list) else [document]
    _check_batch(len(items), max_batch)
    for line, item in enumerate(items, start=1):
        outcome = parse_event(item, line=line, raw="", max_text_chars=max_text_chars)
        _add(parsed, outcome, line)
    return parsed


def _parse_lines(body: bytes, parsed: Parsed, max_text_chars: int, max_batch: int) -> Parsed:
    lines = body.split(b"\n")
    _check_batch(sum(1 for line in lines if line.strip()), max_batch)
    for number, raw in enumerate(lines, start=1):
        outcome = parse_line(raw, line=number, max_text_chars=max_text_chars)
        if outcome is not None:
            _add(parsed, outcome, number)
    return parsed


def _add(parsed: Parsed, outcome: Event | Rejection, line: int) -> None:
    if isinstance(outcome, Event):
        parsed.events.append(outcome)
        parsed.lines.append(line)
    else:
        parsed.rejected.append(outcome)


def _check_batch(count: int, limit: int) -> None:
    if count > limit:
        raise ApiError(413, "BATCH_TOO_LARGE",
                       f"the request holds {count} events, over the limit of {limit}; nothing "
                       "was appended")


@dataclass
class Appended:
    """An append's outcome: per line, with positions; and the batch totals."""

    results: list[EventResult]
    totals: AppendResult

    def response(self) -> AppendResponse:
        positions = [r.position for r in self.results if r.position is not None]
        return AppendResponse(appended=self.totals.appended,
                              duplicates=self.totals.duplicates,
                              rejected=len(self.totals.rejected),
                              last_position=max(positions) if positions else None,
                              results=self.results)


def append_parsed(services: Services, principal: Principal, parsed: Parsed, *,
                  fencing_token: int | None = None,
                  session_of: SessionOf | None = None) -> Appended:
    """Append what parsed; refuse events outside the token's agents and stale fenced ones."""
    rejected = list(parsed.rejected)
    events: list[Event] = []
    lines: list[int] = []
    for event, line in zip(parsed.events, parsed.lines, strict=True):
        if principal.allows(event.agent):
            events.append(event)
            lines.append(line)
        else:
            rejected.append(Rejection(line, f"agent: token {principal.name!r} may not write "
                                      f"for agent {event.agent!r}", "", code="AGENT_NOT_IN_SCOPE"))
    prepared = prepare(events, lines)  # outside the lock: CPU only
    admit = (fence(fencing_token, session_of)
             if fencing_token is not None and session_of is not None else None)
    result = (services.store.append_prepared(prepared, admit=admit) if prepared
              else AppendResult())
    result.rejected.extend(rejected)
    if parsed.count == 0:
        result.rejected.append(Rejection(0, "input: empty; there is no event to append (a JSON "
                                         "array of events, or one per line)", "",
                                         code="EMPTY_INPUT"))
    _count(services, result)
    return Appended(_results(prepared, result), result)


def fence(token: int, session_of: SessionOf) -> Admit:
    """A reply (`message.sent`) is admitted only under the session's current lease."""
    def admit(conn: Connection, item: PreparedEvent) -> Rejection | None:
        if item.event.type != "message.sent":
            return None
        problem = fencing_problem(conn, session_of(conn, item.event), token)
        if problem is None:
            return None
        return Rejection(item.line, f"fencing_token: {problem}", "", code="FENCING_TOKEN_STALE")
    return admit


def _results(prepared: list[PreparedEvent], result: AppendResult) -> list[EventResult]:
    results: dict[int, EventResult] = {}
    rejected_lines = {r.line for r in result.rejected}
    first_line: set[str] = set()
    for item in prepared:
        if item.line in rejected_lines:
            continue
        new = item.event_id in result.fresh and item.event_id not in first_line
        first_line.add(item.event_id)
        results[item.line] = EventResult(line=item.line,
                                         status="appended" if new else "duplicate",
                                         event_id=item.event_id,
                                         position=result.positions.get(item.event_id))
    for rejection in result.rejected:
        results[rejection.line] = EventResult(line=rejection.line, status="rejected",
                                              code=rejection.code, reason=rejection.reason)
    return [results[line] for line in sorted(results)]


def _count(services: Services, result: AppendResult) -> None:
    metrics = services.metrics
    metrics.appended.inc(result.appended)
    metrics.duplicates.inc(result.duplicates)
    for rejection in result.rejected:
        metrics.rejected.labels(code=rejection.code).inc()
