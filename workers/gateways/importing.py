"""One import: read a store, build events, append them (idempotently), record aliases and
summaries, and check the round trip under the gateway's own grouping."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from eventlog.events import Event
from eventlog.store import EventStore
from projections.consistency import ProjectionLagging, wait_until_projected
from projections.errors import ProjectionError
from projections.legacy_aliases import record_aliases
from projections.policy import Policy
from projections.queries import resolve_in_projection
from projections.registry import get
from projections.resolver import compile_policy
from workers.gateways.building import Built, build, event_id
from workers.gateways.fidelity import ImportReport, RoundTrip
from workers.gateways.records import GatewaySession, StoreRead

BATCH = 2_000
FOLD_TIMEOUT = 300.0  # seconds the active projection may take to fold an import
Progress = Callable[[int, int], None]  # (sessions done, sessions in all)


@dataclass
class ImportJob:
    """What to import and how: the store read, the grouping to check against, the log."""

    read: StoreRead
    policy: Policy
    timezone: str
    store: EventStore | None  # None: a dry run, nothing is written


def run(job: ImportJob, progress: Progress | None = None) -> ImportReport:
    read = job.read
    report = ImportReport(read.gateway, read.path, job.timezone, dry_run=job.store is None,
                          naive_times=read.naive_times, problems=list(read.problems),
                          notes=list(read.notes))
    built_all: list[Built] = []
    last_of_key: dict[str, str | None] = {}
    ordered = sorted(read.sessions, key=lambda s: (s.key, s.epoch))
    for index, session in enumerate(ordered, start=1):
        report.sessions_read += 1
        report.messages_read += sum(1 for e in session.entries if e.role != "summary")
        report.skipped.update(session.skipped)
        if not session.entries:
            report.sessions_skipped["empty"] += 1
        else:
            seen = session.key in last_of_key
            built = build(session, reset_before=seen and not session.continues,
                          covered_before=last_of_key.get(session.key)
                          if session.continues else None)
            if built.events:
                last_of_key[session.key] = built.events[-1].event_id
            else:
                last_of_key.setdefault(session.key, None)
            built_all.append(built)
            report.sessions_imported += 1
            report.received += built.received
            report.rejected.update(built.rejected)
            report.unrecovered.update(built.unrecovered)
            if job.store is not None:
                _append(job.store, built, report)
            else:
                report.appended += len(built.events)
        if progress is not None:
            progress(index, len(ordered))
    if job.store is not None:
        report.aliases_recorded = _record_aliases(job.store.engine, read.sessions)
        _record_summaries(job.store, built_all, report)
    else:
        pending = sum(len(b.summaries) for b in built_all)
        if pending:
            report.summaries_skipped["dry run"] += pending
    report.round_trip = round_trip(built_all, job.policy)
    return report


def _append(store: EventStore, built: Built, report: ImportReport) -> None:
    events = built.events
    if len(events) > 1 and events[0].type == "session.reset" \
            and _epoch_without_its_reset(store, events[0], events[1]):
        # The epoch is in the log already, without a reset before it (imported before
        # its earlier epoch was known): a reset appended now would land after it.
        events = events[1:]
        report.skipped["resets of epochs already in the log"] += 1
    for start in range(0, len(events), BATCH):
        result = store.append(events[start:start + BATCH])
        report.appended += result.appended
        report.duplicates += result.duplicates
        report.rejected.update(r.code for r in result.rejected)


def _epoch_without_its_reset(store: EventStore, reset: Event, first: Event) -> bool:
    """Whether the log holds an epoch's first event but not the reset before it."""
    with store.engine.connect() as conn:
        return (store.find(conn, first.event_id) is not None
                and store.find(conn, reset.event_id) is None)


def _record_aliases(engine: Engine, sessions: Iterable[GatewaySession]) -> int:
    rows = []
    for session in sessions:
        address = session.address
        probe: dict[str, Any] = {"agent": address.agent,
                                 "platform": address.platform or "unknown",
                                 "account": address.account or "default",
                                 "chat": address.chat or address.peer or session.key,
                                 "chat_type": address.chat_type or "dm",
                                 "sender": address.peer or address.chat or session.key}
        for name, value in (("space", address.space), ("topic", address.topic)):
            if value:
                probe[name] = value
        for key in dict.fromkeys([session.key, *session.aliases]):
            rows.append({"g": session.gateway, "k": key, "a": json.dumps(probe),
                         "s": json.dumps(session.scope) if session.scope else None,
                         "src": session.source})
    if not rows:
        return 0
    return record_aliases(engine, rows)


def _record_summaries(store: EventStore, built_all: list[Built], report: ImportReport) -> None:
    """A gateway's compaction summary becomes summary.recorded for the active projection."""
    pending = [(b, entry, covered) for b in built_all for entry, covered in b.summaries]
    if not pending:
        return
    with store.engine.connect() as conn:
        try:
            info = get(conn, None)
        except ProjectionError:  # no active projection: the report says so
            report.summaries_skipped["no active projection"] += len(pending)
            return
    # A summary names the session of its epoch, which the projection knows only once it
    # has folded this import: the epochs its resets open are not in its state before.
    try:
        wait_until_projected(store.engine, store, info, store.horizon(),
                             timeout=FOLD_TIMEOUT, max_lag=sys.maxsize)
    except ProjectionLagging:
        report.summaries_skipped["the active projection is behind (run `convlog catch-up`, "
                                 "then import again)"] += len(pending)
        return
    with store.engine.connect() as conn:
        events = []
        for built, entry, covered in pending:
            if covered is None or not built.events:
                report.summaries_skipped["nothing before it"] += 1
                continue
            found = store.find(conn, covered)
            position = found[0] if found is not None else None
            anchor = next((e for e in built.events if e.type == "message.received"),
                          built.events[0])
            # Asked as a reply to the anchor: the session it landed in, whatever epoch
            # the key has reached since.
            placed = resolve_in_projection(conn, info, anchor.model_copy(
                update={"reply_to": anchor.message_id or anchor.reply_to}))
            events.append(Event.model_validate({
                "type": "summary.recorded", "agent": anchor.agent, "platform": anchor.platform,
                "account": anchor.account, "session_id": str(placed.session_id),
                "position": position, "text": entry.text,
                "occurred_at": (entry.occurred_at or anchor.occurred_at).isoformat(),
                "id": event_id(built.session, entry.entry_id, "summary.recorded"),
                "meta": {"import": {"gateway": built.session.gateway,
                                    "key": built.session.key,
                                    "session_id": built.session.session_id,
                                    "entry_id": entry.entry_id}}}))
    if events:
        result = store.append(events)
        report.summaries_recorded += result.appended + result.duplicates
        report.rejected.update(r.code for r in result.rejected)


def round_trip(built_all: list[Built], policy: Policy) -> RoundTrip:
    """Per gateway session, the convlog sessions its messages land in under `policy`.

    A gateway session is a key, or a key and a topic where the gateway kept a topic's
    transcript apart under a key that does not name it (OpenClaw's `-topic-` files).
    """
    compiled = compile_policy(policy)
    trip = RoundTrip(policy.name or "the default policy")
    by_gateway: dict[str, set[str]] = {}
    by_convlog: dict[str, set[str]] = {}
    answered: dict[str, str] = {}
    for built in built_all:
        for event in built.events:
            if event.type in ("session.reset", "summary.recorded"):
                continue
            resolution = compiled.resolve(
                event, lookup_reply=lambda reply_to, _e: answered.get(reply_to))
            if event.type == "message.received" and event.message_id:
                answered[event.message_id] = resolution.key
            gateway = _gateway_session(built.session)
            by_gateway.setdefault(gateway, set()).add(resolution.key)
            by_convlog.setdefault(resolution.key, set()).add(gateway)
    trip.gateway_sessions = len(by_gateway)
    for key, convlog_keys in sorted(by_gateway.items()):
        exact = len(convlog_keys) == 1 and len(by_convlog[next(iter(convlog_keys))]) == 1
        trip.reproduced += exact
        if len(convlog_keys) > 1:
            trip.splits.append({"gateway_key": key, "convlog_keys": sorted(convlog_keys)})
    trip.merges = [{"convlog_key": key, "gateway_keys": sorted(gateway_keys)}
                   for key, gateway_keys in sorted(by_convlog.items()) if len(gateway_keys) > 1]
    return trip


def _gateway_session(session: GatewaySession) -> str:
    """How the round trip names a gateway session: its key, and its topic when it has one."""
    topic = session.address.topic
    return session.key if topic is None else f"{session.key} (topic {topic})"
