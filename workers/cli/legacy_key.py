"""`convlog resolve --key LEGACY_KEY`: a gateway's key read back, and its convlog session."""

from __future__ import annotations

import argparse
import json
from typing import Any

from eventlog.errors import ConvlogError
from eventlog.events import Event
from projections.gateways.picoclaw.keys import hashed_scope
from projections.legacy_keys import Interpretation, interpret_key, probe
from projections.policy import load_policy


def add_key_option(resolve_verb: Any) -> None:
    resolve_verb.add_argument(
        "--key", metavar="LEGACY_KEY",
        help="instead of an event: a gateway's session key (OpenClaw, Hermes agent, PicoClaw) "
             "read back into the chat, thread and sender it names, and its convlog session")
    resolve_verb.add_argument("--gateway", choices=("openclaw", "hermes", "picoclaw"),
                              help="whose key --key is (default: every format it fits)")


def resolve_key_command(args: argparse.Namespace) -> int:
    if args.key is None:
        raise ConvlogError("pass an event (EVENT_JSON) or a gateway's key (--key LEGACY_KEY)",
                           code="USAGE")
    if args.event is not None:
        raise ConvlogError("pass either EVENT_JSON or --key, not both", code="USAGE")
    if args.policy is not None:
        policy = load_policy(args.policy)
        readings = interpret_key(args.key, policy, args.gateway)
        _require(readings, args.key)
        answer: dict[str, Any] = {"key": args.key, "policy_file": args.policy,
                                  "readings": [_with_scope(r.as_dict(), None)
                                               for r in readings]}
    else:
        answer = _in_projection(args)
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False, default=str))
    else:
        print(_describe(answer))
    return 0


def _in_projection(args: argparse.Namespace) -> dict[str, Any]:
    # The database's modules, only when a projection is asked (`--policy` needs none).
    from projections.legacy_aliases import imported_aliases, sessions_with_key
    from projections.queries import resolve_in_projection
    from projections.registry import get
    from workers.bootstrap import bootstrap

    app = bootstrap()
    with app.engine.connect() as conn:
        info = get(conn, args.projection)
        readings = interpret_key(args.key, info.policy, args.gateway)
        sessions = sessions_with_key(conn, info.id, args.key, args.gateway)
        aliases = imported_aliases(conn, args.key)
        placed = []
        for alias in aliases:
            event = Event.model_validate({"type": "message.received", "message_id": "probe",
                                          "text": "", "occurred_at": "1970-01-01T00:00:00Z",
                                          **alias.address})
            placed.append({**alias.as_dict(),
                           "session": resolve_in_projection(conn, info, event).as_dict()})
        if not (readings or sessions or placed):
            _require(readings, args.key)
        scopes = [alias.scope for alias in aliases if alias.scope is not None]
        projected = [_with_scope(_projected(conn, info, reading), scopes)
                     for reading in readings]
    return {"key": args.key, "projection": info.name, "readings": projected,
            "sessions_with_key": [s.as_dict() for s in sessions], "imported": placed}


def _with_scope(reading: dict[str, Any], imported: list[dict[str, Any]] | None
                ) -> dict[str, Any]:
    """Beside an opaque PicoClaw key: the scope it is the hash of ({dimensions, values,
    version, ...}), as imported from the meta file, else as rendered here, else None."""
    parsed = reading["parsed"]
    if parsed["gateway"] == "picoclaw" and parsed["opaque"]:
        reading["scope"] = imported[0] if imported else hashed_scope(parsed["key"])
    return reading


def _projected(conn: Any, info: Any, reading: Interpretation) -> dict[str, Any]:
    from projections.queries import resolve_in_projection

    found = reading.as_dict()
    if reading.resolution is not None:
        event = probe(reading.parsed)
        if event is not None:
            found["session"] = resolve_in_projection(conn, info, event).as_dict()
    return found


def _require(readings: list[Interpretation], key: str) -> None:
    if not readings:
        raise ConvlogError(f"{key!r} is not a session key of OpenClaw (agent:<id>:...), Hermes "
                           "agent (agent:main:<platform>:<chat_type>:<chat>) or PicoClaw "
                           "(sk_v1_...); check it", code="UNKNOWN_LEGACY_KEY")


def _describe(answer: dict[str, Any]) -> str:
    lines = [f"legacy key  {answer['key']}"]
    for reading in answer["readings"]:
        parsed = reading["parsed"]
        lines.append(f"as {parsed['gateway']} ({parsed['scope']})")
        for name in ("agent", "platform", "account", "chat_type", "chat", "topic", "sender"):
            if parsed[name] is not None:
                lines.append(f"  {name:<10}{parsed[name]}")
        for note in parsed["notes"]:
            lines.append(f"  note      {note}")
        if reading.get("scope"):
            lines.append(f"  scope     {json.dumps(reading['scope'], sort_keys=True)}")
        session = reading.get("session")
        if session is not None:
            lines.append(f"  session   {session['session_id']} ({session['key']})")
            lines.append("  renders   " + ("this very key: the grouping is the same"
                                          if reading["renders_back"] else
                                          "another key: the policy groups it otherwise"))
    for session in answer.get("sessions_with_key", []):
        lines.append(f"session with this key  {session['session_id']} epoch {session['epoch']} "
                     f"({session['messages']} messages)")
    for alias in answer.get("imported", []):
        lines.append(f"imported from {alias['source']}: {json.dumps(alias['address'])} -> "
                     f"session {alias['session']['session_id']}")
    return "\n".join(lines)
