"""`convlog server status|start|stop`: the embedded PostgreSQL that holds the log when no
CONVLOG_DATABASE_URL is set. It outlives the command that starts it, so later commands
reuse it; these verbs say where it is and stop it."""

from __future__ import annotations

import argparse
import os

from eventlog.embedded_status import embedded_status
from eventlog.settings import Settings
from workers.cli.output import console, print_json


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = verbs.add_parser("server")
    sub = server.add_subparsers(dest="server_command", required=True,
                                metavar="status|start|stop")
    for name, help_text, handler in (
            ("status", "where its data lives, and whether it runs (its PID and port)",
             run_status),
            ("start", "start it (every command that needs it starts it anyway)", run_start),
            ("stop", "stop it; its data stays, and the next command starts it again",
             run_stop)):
        verb = sub.add_parser(name, help=help_text)
        verb.add_argument("--json", action="store_true", help="print JSON instead of text")
        verb.set_defaults(handler=handler)


def _report(args: argparse.Namespace, said: str | None = None) -> int:
    status = embedded_status(Settings().home)
    url_set = bool(os.environ.get("CONVLOG_DATABASE_URL"))
    if args.json:
        print_json({**status.as_dict(), "used": not url_set})
        return 0
    if said:
        console.print(said, highlight=False)
    console.print(f"data:    {status.pgdata}" + ("" if status.exists else " (none yet)"),
                  highlight=False)
    if status.running:
        console.print(f"running: yes, pid {status.pid}, port {status.port}, socket in "
                      f"{status.socket_dir}", highlight=False)
    else:
        console.print("running: no", highlight=False)
    if url_set:
        console.print("CONVLOG_DATABASE_URL is set, so commands use that server, not this "
                      "one", highlight=False)
    return 0


def run_status(args: argparse.Namespace) -> int:
    return _report(args)


def run_start(args: argparse.Namespace) -> int:
    from eventlog.database import EMBEDDED_DATABASE, embedded_server_url

    home = Settings().home
    was_running = embedded_status(home).running
    embedded_server_url(home, EMBEDDED_DATABASE)
    return _report(args, "already running" if was_running else "started")


def run_stop(args: argparse.Namespace) -> int:
    from eventlog.database import stop_embedded_server

    stopped = stop_embedded_server(Settings().home)
    return _report(args, "stopped" if stopped else "was not running")
