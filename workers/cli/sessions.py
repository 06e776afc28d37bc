"""`convlog sessions` and `convlog context`: a projection's sessions, and one session's context."""

from __future__ import annotations

import argparse

from rich.table import Table
from rich.text import Text

from eventlog.encoding_names import KNOWN_ENCODINGS
from eventlog.replica import reads_for
from projections.context import ContextAssembler
from projections.queries import quarantined_count
from projections.registry import get
from projections.sessions import SessionFilter, find_session, list_sessions
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, non_negative_int, plain, print_json


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = verbs.add_parser("sessions")
    sessions.add_argument("--projection", metavar="NAME", help="default: the active one")
    sessions.add_argument("--needs-summary", action="store_true",
                          help="only sessions whose compaction thresholds are crossed")
    sessions.add_argument("--agent", metavar="AGENT", help="only this agent's sessions")
    sessions.add_argument("--key-prefix", metavar="PREFIX",
                          help="only sessions whose key starts so")
    sessions.add_argument("--participant", metavar="SENDER",
                          help="only sessions this sender wrote in")
    sessions.add_argument("--limit", type=non_negative_int, default=50,
                          help="at most this many sessions, most recently active first")
    sessions.add_argument("--cursor", metavar="CURSOR",
                          help="the page after the one that printed this cursor")
    sessions.add_argument("--json", action="store_true", help="print JSON instead of text")
    sessions.set_defaults(handler=run_sessions)

    context = verbs.add_parser("context")
    context.add_argument("session", metavar="SESSION", help="a session id or key")
    context.add_argument("--budget", type=non_negative_int, default=8_000, metavar="TOKENS",
                         help="the context's token budget")
    context.add_argument("--as-of", type=non_negative_int, default=None, metavar="POSITION",
                         help="the context as it was at this log position (default: now)")
    context.add_argument("--tag-senders", action="store_true",
                         help="prefix each message with its sender's name")
    context.add_argument("--encoding", metavar="E", choices=KNOWN_ENCODINGS, default=None,
                         help="count tokens and the budget in this encoding (default: the "
                              f"projection's); one of {', '.join(KNOWN_ENCODINGS)}")
    context.add_argument("--projection", metavar="NAME", help="default: the active one")
    context.add_argument("--json", action="store_true", help="print JSON instead of text")
    context.set_defaults(handler=run_context)


def run_sessions(args: argparse.Namespace) -> int:
    app = bootstrap()
    with reads_for(app.settings, app.engine).stale_ok().connect() as conn:
        info = get(conn, args.projection)
        wanted = SessionFilter(agents=None if args.agent is None else [args.agent],
                               key_prefix=args.key_prefix, participant=args.participant,
                               needs_summary=True if args.needs_summary else None)
        page = list_sessions(conn, info.id, wanted, cursor=args.cursor, limit=args.limit)
        quarantined = quarantined_count(conn, info.id)
    rows = page.sessions
    if page.next_cursor is not None:  # stderr, like the note: --json stays a list
        err_console.print(plain(f"more: convlog sessions --cursor {page.next_cursor} (and the "
                                "same filters)"))
    if quarantined:  # stderr: a note for the operator, never part of --json
        err_console.print(plain(f"note: {quarantined:,} event{'s' * (quarantined != 1)} could "
                                f"not be folded into {info.name} and are quarantined; see "
                                f"`convlog projection show {info.name}`"))
    if args.json:
        print_json([row.as_dict() for row in rows])
        return 0
    table = Table("session_id", "key", "msgs", "tokens", "users", "last", "summary?",
                  title=plain(f"projection {info.name}"))
    for r in rows:
        # Keys are built from gateway ids: inert text, like any chat content.
        table.add_row(str(r.session_id), plain(r.key), str(r.message_count),
                      f"{r.token_total:,}", str(len(r.participants)),
                      r.last_at.strftime("%Y-%m-%d %H:%M"), plain(r.summary_reason))
    console.print(table)
    return 0


def run_context(args: argparse.Namespace) -> int:
    app = bootstrap()
    # The standby when there is one; another encoding may count what is missing, which
    # the primary keeps.
    source = app.engine if args.encoding else reads_for(app.settings, app.engine).stale_ok()
    with source.begin() as conn:  # counts another encoding needs are kept
        info = get(conn, args.projection)
        session_id = find_session(conn, info.id, args.session)
        context = ContextAssembler(app.store.counter).assemble(
            conn, info.id, session_id, budget=args.budget, as_of=args.as_of,
            tag_senders=args.tag_senders, encoding=args.encoding)
    if args.json:
        print_json(context.as_dict())
        return 0
    data = context.as_dict()
    console.print(plain(f"session {data['session_id']}  key {data['key']}"))
    for message in context.messages:
        who = message.get("name") or message["role"]
        body = message["content"]
        if body is None:
            call = message["tool_calls"][0]["function"]
            body = f"(calls {call['name']} {call['arguments']})"
        console.print(Text.assemble(plain(who, style="bold"), ": ", plain(body, newlines=True)))
    tokens, left = data["tokens"], data["left_out"]
    err_console.print(
        f"tokens: summary {tokens['summary']}, messages {tokens['messages']}, total "
        f"{tokens['total']} of {args.budget}; left out: {left['messages']} messages, "
        f"{left['tokens']} tokens", highlight=False)
    return 0
