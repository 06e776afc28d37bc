"""`convlog token create|list|revoke`: bearer tokens for the HTTP API, stored as hashes."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from eventlog.access import (
    VERBS,
    create_token,
    list_tokens,
    parse_duration,
    parse_list,
    revoke_token,
)
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, print_json


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = verbs.add_parser("token")
    sub = token.add_subparsers(dest="token_command", required=True,
                               metavar="create|list|revoke")
    create = sub.add_parser("create", help="make a token; it is printed once, never stored")
    create.add_argument("name", help="the token's name (for list and revoke)")
    create.add_argument("--agents", required=True, metavar="A[,B...]",
                        help="the agents whose sessions it may touch; '*' for every agent")
    create.add_argument("--verbs", required=True, metavar=",".join(VERBS),
                        help="what it may do: ingest (append, leases), read, admin (projections)")
    create.add_argument("--expires-in", metavar="DURATION",
                        help="refuse it after this long: 90m, 12h, 30d, 2w (default: never)")
    create.add_argument("--json", action="store_true", help='print {"token": ...}')
    create.set_defaults(handler=run_create)
    listing = sub.add_parser("list", help="tokens by name (never the tokens themselves)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(handler=run_list)
    revoke = sub.add_parser("revoke", help="refuse a token from now on")
    revoke.add_argument("name", help="the live token to revoke")
    revoke.set_defaults(handler=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    agents, verbs = parse_list(args.agents, "agents"), parse_list(args.verbs, "verbs")
    expires_in = parse_duration(args.expires_in) if args.expires_in is not None else None
    secret = create_token(bootstrap().engine, args.name, agents, verbs, expires_in)
    if args.json:
        print_json({"token": secret, "name": args.name, "agents": agents, "verbs": verbs,
                    "expires_in_seconds": None if expires_in is None
                    else int(expires_in.total_seconds())})
        return 0
    lasts = "" if expires_in is None else f", expiring in {args.expires_in}"
    err_console.print(f"token {escape(args.name)} for agents {escape(', '.join(agents))}, verbs "
                      f"{', '.join(verbs)}{lasts}; it is shown this once, store it now:",
                      highlight=False)
    print(secret)
    return 0


def run_list(args: argparse.Namespace) -> int:
    tokens = list_tokens(bootstrap().engine)
    if args.json:
        print_json([token.as_dict() for token in tokens])
        return 0
    table = Table("name", "agents", "verbs", "created", "revoked", "expires")
    for token in tokens:
        table.add_row(escape(token.name), escape(", ".join(token.agents)),
                      ", ".join(token.verbs), token.created_at.strftime("%Y-%m-%d %H:%M"),
                      token.revoked_at.strftime("%Y-%m-%d %H:%M") if token.revoked_at else "",
                      token.expires_at.strftime("%Y-%m-%d %H:%M") if token.expires_at else "")
    console.print(table)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    revoke_token(bootstrap().engine, args.name)
    console.print(f"revoked token {escape(args.name)}; requests with it now get 401",
                  highlight=False)
    return 0
