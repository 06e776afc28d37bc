"""`convlog erase`: remove a sender's, a message's or a chat's content everywhere, with an audit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Engine

from eventlog.erasure import (
    ErasureError,
    ErasureResult,
    Identity,
    Selector,
    chat_selector,
    checked_reason,
    erase,
    message_selector,
    preview,
    sender_selector,
)
from projections.registry import list_projections
from workers.bootstrap import bootstrap
from workers.cli.output import console, err_console, plain, print_json


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = verbs.add_parser(
        "erase",
        description="Erase the content of a sender's messages (in every chat, and of the "
                    "identities a projection's identity_links tie to them), of one message, "
                    "or of a whole chat. Envelopes, positions and token counts stay; the "
                    "erasure is recorded, without content, in the `erasures` audit.")
    which = command.add_mutually_exclusive_group(required=True)
    which.add_argument("--sender", metavar="PLATFORM:ID",
                       help="everything this sender wrote, in every chat of the platform")
    which.add_argument("--message", metavar="PLATFORM:CHAT:MESSAGE_ID",
                       help="one message and every event about it (edits, deletions)")
    which.add_argument("--chat", metavar="PLATFORM:CHAT", help="every event in one chat")
    command.add_argument("--reason", required=True, metavar="TEXT",
                         help="why (a request or ticket reference); kept in the audit")
    command.add_argument("--no-linked", action="store_true",
                         help="with --sender: only that id, not the identities linked to it")
    command.add_argument("--and-future", action="store_true",
                         help="with --sender: also erase what they write from now on, as it "
                              "arrives (said in the audit's targets)")
    command.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    command.add_argument("--json", action="store_true", help="print JSON instead of text")
    command.set_defaults(handler=run_erase)


def linked_identities(links: Iterable[Mapping[str, Sequence[str]]], platform: str,
                      sender: str) -> list[Identity]:
    """Every identity some policy's identity_links ties to `platform:sender`.

    Read as the resolver reads identity_links: a `platform:id` entry names that id
    on that platform, a bare entry that id on every platform.
    """
    found: list[Identity] = []
    for policy_links in links:
        for raw_ids in policy_links.values():
            if f"{platform}:{sender}" not in raw_ids and sender not in raw_ids:
                continue
            for raw in raw_ids:
                linked_platform, colon, raw_id = raw.partition(":")
                candidates = [Identity(None, raw)]
                if colon and linked_platform and raw_id:
                    candidates.insert(0, Identity(linked_platform, raw_id))
                found += [c for c in candidates if c not in found]
    return [i for i in found if i != Identity(platform, sender)]


def _selector(engine: Engine, args: argparse.Namespace) -> Selector:
    with engine.connect() as conn:
        if args.message is not None:
            return message_selector(conn, args.message)
        if args.chat is not None:
            return chat_selector(args.chat)
        bare = sender_selector(args.sender)  # validates the form first
        if args.no_linked:
            return bare
        first = bare.targets[0]
        links = [info.policy.identity_links for info in list_projections(conn)]
        return sender_selector(args.sender, linked_identities(
            links, str(first["platform"]), str(first["sender"])))


def _confirmed(result: ErasureResult) -> bool:
    if not sys.stdin.isatty():
        raise ErasureError("erasure cannot be undone; repeat with --yes to confirm it "
                           "(no terminal to ask on)", code="CONFIRMATION_REQUIRED")
    err_console.print(plain(_describe(result, "would erase")))
    answer = input("Erase it? This cannot be undone. [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _describe(result: ErasureResult, verb: str) -> str:
    targets = ", ".join(
        ":".join(str(value) if value is not None else "*" for value in target.values())
        for target in result.selector.targets)
    return (f"{verb} the content of {result.contents_erased} of {result.events_matched} "
            f"matching events and {result.summaries_erased} summaries derived from them "
            f"({result.selector.kind} {targets})")


def run_erase(args: argparse.Namespace) -> int:
    reason = checked_reason(args.reason)
    if args.and_future and args.sender is None:
        raise ErasureError("--and-future erases what a sender writes later: it goes with "
                           "--sender only", code="INVALID_SELECTOR")
    app = bootstrap()
    selector = _selector(app.engine, args)
    if not args.yes and not _confirmed(preview(app.engine, selector)):
        err_console.print("nothing erased")
        return 0
    result = erase(app.engine, selector, reason, and_future=args.and_future)
    if args.json:
        print_json(result.as_dict())
        return 0
    console.print(plain(_describe(result, f"erasure {result.erasure_id}: erased")))
    console.print("Envelopes, positions and token counts stay, so no projection needs a "
                  "rebuild; erased rows linger on disk until VACUUM reclaims them.",
                  highlight=False)
    return 0
