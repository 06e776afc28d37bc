"""`convlog demo`: one realistic log, four scope policies side by side, and seed 002's story."""

from __future__ import annotations

import argparse
import json
import time
from itertools import chain
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import Connection, Engine, create_engine

from eventlog.database import resolve_url, scratch_database, stop_embedded_server
from eventlog.embedded_status import embedded_status
from eventlog.events import Event
from eventlog.ingest import ingest_lines
from eventlog.settings import Settings
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter, count_pending
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.projector import Projector
from projections.queries import projection_totals
from projections.registry import create, ensure_default, get
from projections.rescoping import activate_when_caught_up
from projections.sessions import session_of_event
from workers.cli.demo_costs import show_costs
from workers.cli.output import console
from workers.migrate import upgrade
from workers.tools.workload import generate, sample_path

GUILD = {"discord:1234567890": {
    "session_scope": "guild",
    "channels": {"1000000003": {"session_scope": "channel"}},
    "privacy_zones": ["1000000009"],
}}
POLICIES: dict[str, dict[str, Any]] = {
    "per-chat": {},
    "per-user": {"dimensions": ["chat", "sender"]},
    "guild-wide": {"spaces": GUILD},
    "channel-group": {"channel_groups": {"eng": ["discord:1000000004", "discord:1000000005"]}},
}
CONTEXT_LIMIT = 200_000
QUESTION = "Hey, can you help me set up the CI pipeline?"
FOLLOW_UP = "What's the status of my CI pipeline setup?"


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = verbs.add_parser("demo")
    demo.add_argument("--events", type=int, default=20_000,
                      help="how many generated events to add to the sample")
    demo.add_argument("--seed", type=int, default=7,
                      help="the workload's seed: the same seed, the same events")
    demo.add_argument("--report", type=Path, default=Path("convlog-demo-report.html"),
                      metavar="HTML", help="where to write the demo's cost report")
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    return run(events=args.events, seed=args.seed, report=args.report)


def run(*, events: int, seed: int, report: Path = Path("convlog-demo-report.html")) -> int:
    console.rule("convlog demo")
    settings = Settings()
    # An embedded server the demo starts is stopped at the end; one already running (the
    # user's own) is left as it was.
    start_embedded = settings.database_url is None and not embedded_status(
        settings.home).running
    # A database of its own beside the user's, dropped at the end: the demo never
    # touches their log, nor any database it did not create.
    try:
        with scratch_database(resolve_url(settings), "convlog_demo") as url:
            engine = create_engine(url)
            try:
                show(engine, events=events, seed=seed, report=report)
            finally:
                engine.dispose()
    finally:
        if start_embedded:
            stop_embedded_server(settings.home)
    console.print("(The demo ran in a database of its own, now dropped; your log was not "
                  "touched" + ("; the embedded server it started is stopped.)"
                               if start_embedded else ".)"), highlight=False)
    return 0


def show(engine: Engine, *, events: int, seed: int,
         report: Path = Path("convlog-demo-report.html")) -> None:
    upgrade(engine)
    encoding = Settings().encoding
    with engine.begin() as conn:
        ensure_default(conn, encoding)
    store = EventStore(engine, TokenCounter(encoding))

    started = time.perf_counter()
    generated = (json.dumps(e, separators=(",", ":")).encode() for e in generate(events, seed))
    result = ingest_lines(store, chain(sample_path().read_bytes().splitlines(), generated))
    elapsed = time.perf_counter() - started
    console.print(f"1. ingested the sample and {events:,} generated events (Discord, Telegram, "
                  f"Slack, WhatsApp): appended {result.appended:,}, duplicates "
                  f"{result.duplicates:,}, rejected {result.rejected:,} in {elapsed:.1f}s",
                  highlight=False)

    started = time.perf_counter()
    counted = count_pending(engine, store.counter.encoding_name)
    elapsed = time.perf_counter() - started
    console.print(f"   counted tokens once ({counted.encoding}): {counted.rows:,} events in "
                  f"{elapsed:.1f}s; every projection below reads these counts, none recounts",
                  highlight=False)
    console.print("2. projected the same log under four policies, side by side (the set-based "
                  "fold; no event moves):")
    for name, body in POLICIES.items():
        with engine.begin() as conn:
            create(conn, name, Policy.model_validate({"name": name, **body}), encoding)
        run_stats = Projector(engine, store, name).catch_up()
        console.print(f"   {name:<14} {run_stats.events:,} events at "
                      f"{run_stats.rate:,.0f} events/s", highlight=False)
    activate_when_caught_up(engine, store, "per-chat")
    console.print(comparison(engine))
    tell_seed_002(engine, store)
    console.print("\nSwitching scope is `convlog projection activate guild-wide` (atomic) and "
                  "`convlog projection rollback` (instant); no event moves.")
    show_costs(engine, store, GUILD, report)


def comparison(engine: Engine) -> Table:
    table = Table("policy", "sessions", "largest (tokens)", f"over {CONTEXT_LIMIT:,}",
                  "shared sessions", "context by other users",
                  title="the same events, four ways to group them")
    with engine.connect() as conn:
        for name in POLICIES:
            totals = projection_totals(conn, get(conn, name).id, context_limit=CONTEXT_LIMIT)
            table.add_row(name, f"{totals.sessions:,}", f"{totals.largest_tokens:,}",
                          f"{totals.over_limit:,}", f"{totals.shared:,}",
                          f"{totals.other_users_share:.0%}")
    return table


def _follow_up_position(conn: Connection) -> int:
    """Where the sample's follow-up question landed in the log."""
    for line in sample_path().read_bytes().splitlines():
        data = json.loads(line)
        if data.get("text") == FOLLOW_UP:
            found = EventStore.find(conn, Event.model_validate(data).event_id)
            assert found is not None, "the demo ingested the sample"
            return found[0]
    raise AssertionError("the sample holds the follow-up question")


def tell_seed_002(engine: Engine, store: EventStore) -> None:
    console.rule("seed 002: asked in #general, followed up in #requests")
    with engine.connect() as conn:
        position = _follow_up_position(conn)
        for name in ("per-chat", "guild-wide"):
            info = get(conn, name)
            session_id = session_of_event(conn, info.id, position)
            assert session_id is not None, "every message is a member of a session"
            context = ContextAssembler(store.counter).assemble(
                conn, info.id, session_id, budget=2_000, as_of=position, tag_senders=True)
            chats = sorted({m["source"]["chat"] for m in context.messages if "source" in m
                            and "chat" in m["source"]})
            console.print(f"\n[bold]{name}[/bold]: alice asks {FOLLOW_UP!r} in #requests; the "
                          f"agent's context holds {len(context.items)} messages from chats "
                          f"{', '.join(chats)}")
            for message in context.messages:
                body = (message["content"] or "").replace("\n", " ")
                if "CI" in body or "pipeline" in body:
                    console.print(f"   {message['role']:<9} {body[:120]}", highlight=False,
                                  markup=False)
            remembered = any(QUESTION in (m["content"] or "") for m in context.messages)
            console.print("   → the earlier question from #general is "
                          + ("in the context" if remembered else "NOT in the context"))
