"""`convlog resolve` against a projection's state: the current epoch after resets."""

from __future__ import annotations

import argparse
import json

from sqlalchemy import text

from projections.registry import get
from projections.resolver import compile_policy, session_id_for


def resolve_in_projection(args: argparse.Namespace) -> int:
    from workers.bootstrap import bootstrap
    from workers.commands.policy import read_event

    app = bootstrap()
    event = read_event(args.event)
    with app.engine.connect() as conn:
        info = get(conn, getattr(args, "projection", None))
        compiled = compile_policy(info.policy)
        reasons: list[str] = []
        session_id = None
        if event.reply_to and event.chat:
            session_id = conn.execute(text(
                "SELECT session_id FROM message_index WHERE projection_id = :p AND agent = :a "
                "AND platform = :pl AND account = :ac AND chat = :c AND message_id = :m"),
                {"p": info.id, "a": event.agent, "pl": event.platform, "ac": event.account,
                 "c": event.chat, "m": event.reply_to}).scalar()
            if session_id is not None:
                reasons.append(f"answers message {event.reply_to}, which is in this session")
        resolution = compiled.resolve(event)
        head = conn.execute(text(
            "SELECT session_id, epoch, started_by FROM session_heads "
            "WHERE projection_id = :p AND key = :k"), {"p": info.id, "k": resolution.key}).first()
    epoch = head.epoch if head else 0
    if session_id is None:
        session_id = head.session_id if head else session_id_for(compiled, resolution.key, 0)
        reasons.extend(resolution.reasons)
        reasons.append(f"epoch {epoch}" + (f" (started by {head.started_by})" if head else
                                           " (no session yet: the first message opens it)"))
    result = {**resolution.as_dict(), "projection": info.name, "epoch": epoch,
              "session_id": str(session_id), "reasons": reasons}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"projection {info.name}\nsession {result['session_id']} (epoch {epoch})\n"
              f"key {result['key']}")
        for name, key in result["legacy"].items():
            print(f"legacy {name}: {key}")
        for reason in reasons:
            print(f"  because {reason}")
    return 0
