"""`convlog search QUERY`: full-text search over what was said, each hit with its session."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time

from rich.text import Text
from sqlalchemy import Engine

from eventlog.replica import reads_for
from eventlog.search_index import configure, ensure_config, index_pending
from projections.registry import get
from projections.searching import Hit, SearchFilter, SearchPage, parse_address, search
from projections.sessions import find_session
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, plain, positive_int, print_json


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = verbs.add_parser(
        "search",
        description="Search what was said (message texts, edits included), ranked, with a "
                    "highlighted snippet, the event's position and time, and the session it "
                    "is in under the active projection (or --projection), so a hit opens "
                    "with `convlog context SESSION`. QUERY uses web search syntax: words, "
                    "\"a phrase\", -excluded, or.")
    command.add_argument("query", metavar="QUERY",
                         help="words; \"a phrase\", or, -not (websearch syntax)")
    command.add_argument("--sender", metavar="PLATFORM:ID", help="only this sender's messages")
    command.add_argument("--chat", metavar="PLATFORM:CHAT", help="only this chat")
    command.add_argument("--space", metavar="PLATFORM:SPACE",
                         help="only this guild or workspace")
    command.add_argument("--agent", metavar="A[,B...]", help="only these agents")
    command.add_argument("--since", type=when, metavar="TIME",
                         help="occurred at or after (2026-03-01 or RFC 3339; UTC if no zone)")
    command.add_argument("--until", type=when, metavar="TIME", help="occurred before")
    command.add_argument("--session", metavar="ID|KEY", help="only this session's messages")
    command.add_argument("--projection", metavar="NAME", help="default: the active one")
    command.add_argument("--limit", type=positive_int, default=20, metavar="N",
                         help="hits per page")
    command.add_argument("--cursor", metavar="CURSOR", help="the next page (printed after one)")
    command.add_argument("--reindex", action="store_true",
                         help="rebuild the index under CONVLOG_SEARCH_CONFIG first (operator)")
    command.add_argument("--json", action="store_true", help="print JSON instead of text")
    command.set_defaults(handler=run_search)


def when(value: str) -> datetime:
    """An argparse type: a date (midnight UTC) or an RFC 3339 time (UTC if it has no zone)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date (2026-03-01) or a time (2026-03-01T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filter(engine: Engine, args: argparse.Namespace, projection_id: int) -> SearchFilter:
    agents = None
    if args.agent is not None:
        agents = sorted({a.strip() for a in args.agent.split(",") if a.strip()})
    session = None
    if args.session is not None:
        with engine.connect() as conn:
            session = find_session(conn, projection_id, args.session)
    return SearchFilter(
        agents=agents,
        sender=parse_address(args.sender, "--sender", "discord:111") if args.sender else None,
        chat=parse_address(args.chat, "--chat", "telegram:-100123") if args.chat else None,
        space=parse_address(args.space, "--space", "discord:1234567890") if args.space
        else None,
        since=args.since, until=args.until, session=session)


def run_search(args: argparse.Namespace) -> int:
    app = bootstrap()
    if args.reindex:
        configure(app.engine, app.settings.search_config)
    index_pending(app.engine)  # nothing appended before this search is missed
    # The standby once it has replayed that index, else the primary.
    source = reads_for(app.settings, app.engine).current()
    with source.connect() as conn:
        current = ensure_config(conn, app.settings.search_config)
        info = get(conn, args.projection)
    wanted = _filter(source, args, info.id)
    with source.connect() as conn:
        page = search(conn, info, args.query, wanted, config=current.config,
                      indexed_upto=current.indexed_upto, limit=args.limit, cursor=args.cursor)
    if args.json:
        print_json(page.as_dict())
        return 0
    _print_page(page)
    return 0


def highlighted(hit: Hit) -> Text:
    """The snippet as inert text, its matches in bold: chat content never acts on a terminal."""
    shown, at = Text(), 0
    for start, end in hit.highlights:
        shown.append_text(plain(hit.snippet[at:start]))
        shown.append_text(plain(hit.snippet[start:end], style="bold"))
        at = end
    shown.append_text(plain(hit.snippet[at:]))
    return shown


def _print_page(page: SearchPage) -> None:
    if not page.hits:
        err_console.print(plain(f"no message matches {page.query!r}"))
    for hit in page.hits:
        place = hit.address
        who = hit.sender_name or place.sender or hit.type.removeprefix("message.")
        where = f"{place.platform}:{place.chat}" if place.chat else place.platform
        console.print(plain(f"#{hit.position}  {hit.occurred_at:%Y-%m-%d %H:%M}  {where}  "
                            f"{who}  ({place.agent}, rank {hit.rank:.3f})"))
        console.print(Text("    ").append_text(highlighted(hit)))
        session = (f"session {hit.session_id}  {hit.session_key}" if hit.session_id
                   else f"not in a session of {page.projection} yet")
        console.print(Text("    ").append_text(plain(session, style="dim")))
    if page.next_cursor:
        err_console.print(plain(f"more: --cursor {page.next_cursor}"))
