"""Members rendered once and kept (`projections.context.Kept`): a context from an assembler that
kept what it rendered before is the context a fresh assembler renders, whatever changed
in between, and erased content is neither served nor kept."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import Engine, text

from eventlog.erasure import erase, sender_selector
from eventlog.store import EventStore
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from projections.rendered import Item, Kept
from tests.fixtures.builders import event_dict, make_event
from tests.fixtures.http import ApiServer
from tests.fixtures.projections import new_projection

SECRET = "okapi-7731 lives at the old mill"
PROJECTIONS = ("default", "per-user")


def _project(engine: Engine, store: EventStore) -> None:
    for name in PROJECTIONS:
        Projector(engine, store, name).catch_up()


def _sessions(engine: Engine) -> list[tuple[int, uuid.UUID]]:
    with engine.connect() as conn:
        ids = [get(conn, name).id for name in PROJECTIONS]
        return [(int(p), s) for p, s in conn.execute(text(
            "SELECT projection_id, session_id FROM sessions WHERE projection_id = ANY(:ids) "
            "ORDER BY projection_id, session_id"), {"ids": ids})]


def _contexts(engine: Engine, assembler: ContextAssembler,
              as_of: int | None = None) -> list[dict[str, Any]]:
    """Every session's context in both projections, with and without senders tagged, at
    a budget that takes all and one that leaves some out."""
    found = []
    with engine.connect() as conn:
        for projection_id, session_id in _sessions(engine):
            for tag_senders in (False, True, False):
                for budget in (100_000, 60):
                    found.append(assembler.assemble(
                        conn, projection_id, session_id, budget=budget, as_of=as_of,
                        tag_senders=tag_senders).as_dict())
    return found


def _kept_texts(assembler: ContextAssembler) -> str:
    kept: list[Kept] = list(assembler.kept)
    entries = [entry for k in kept for generation in (k.young, k._old)
               for entry in generation.values()]
    return json.dumps([list(entry[1].messages) for entry in entries if entry[1] is not None],
                      default=str)


def test_a_kept_assembler_answers_as_a_fresh_one_through_every_change(
        store: EventStore, engine: Engine) -> None:
    # Given a chat of two people, a bot's replies and a tool call, in two projections
    new_projection(engine, "per-user", Policy(dimensions=("chat", "sender")))
    store.append([make_event(message_id="q1", text="hello there"),
                  make_event(message_id="q2", sender="222", sender_name="bob",
                             text="hi, alice"),
                  make_event(type="message.sent", message_id="a1", reply_to="q1",
                             sender="bot", text="how can I help?"),
                  make_event(type="tool.used", message_id=None, reply_to="q1", sender=None,
                             meta={"tool": "search", "arguments": {"q": "mill"}},
                             text="three results"),
                  make_event(message_id="q3", text="where is the mill?"),
                  make_event(message_id="q4", text=SECRET),
                  make_event(message_id="q5", sender="222", sender_name="bob",
                             text="delete me later"),
                  make_event(message_id="q6", sender="222", sender_name="bob",
                             text="redact me later")])
    _project(engine, store)
    kept = ContextAssembler(store.counter)
    # When each kind of change lands after the kept assembler rendered the contexts
    before = store.horizon()
    changes: list[list[Any]] = [
        [make_event(type="message.edited", message_id="q3", text="where is the old mill?")],
        [make_event(type="message.deleted", message_id="q5", sender="222", text=None)],
        [make_event(type="content.redacted", message_id="q6", sender="222", text=None,
                    sender_name=None)],
        [make_event(message_id="q7", text="and more words " * 30)],
    ]
    assert _contexts(engine, kept) == _contexts(engine, ContextAssembler(store.counter))
    for change in changes:
        store.append(change)
        _project(engine, store)
        # Then every context it gives is a fresh assembler's, now and at an earlier position
        assert _contexts(engine, kept) == _contexts(engine, ContextAssembler(store.counter))
        assert (_contexts(engine, kept, as_of=before)
                == _contexts(engine, ContextAssembler(store.counter), as_of=before))
    with engine.connect() as conn:
        session_id = conn.execute(text(
            "SELECT session_id FROM sessions WHERE projection_id = :p"),
            {"p": get(conn, "default").id}).scalar_one()
    store.append([make_event(type="summary.recorded", chat=None, chat_type=None, sender=None,
                             message_id=None, session_id=str(session_id),
                             position=store.horizon() - 2, text="Summary: the mill."),
                  make_event(message_id="q8", text="/reset"),
                  make_event(message_id="q9", text="a new start")])
    _project(engine, store)
    assert _contexts(engine, kept) == _contexts(engine, ContextAssembler(store.counter))
    assert len(kept.kept[False]) > 0 and len(kept.kept[True]) > 0  # it did keep them


def test_erased_content_is_neither_served_nor_kept(store: EventStore, engine: Engine) -> None:
    # Given her secret rendered into contexts by an assembler that keeps what it renders
    new_projection(engine, "per-user", Policy(dimensions=("chat", "sender")))
    store.append([make_event(message_id="s1", text=SECRET),
                  make_event(message_id="s2", sender="222", sender_name="bob",
                             text="bob's words stay")])
    _project(engine, store)
    kept = ContextAssembler(store.counter)
    assert SECRET in json.dumps(_contexts(engine, kept))
    assert SECRET in _kept_texts(kept)
    # When she is erased (nothing tells this assembler)
    erase(engine, sender_selector("discord:111"), "her request")
    # Then the next contexts hold none of it, and neither does what the assembler keeps
    contexts = json.dumps(_contexts(engine, kept))
    assert SECRET not in contexts and "bob's words stay" in contexts
    assert SECRET not in _kept_texts(kept)
    assert contexts == json.dumps(_contexts(engine, ContextAssembler(store.counter)))


def test_kept_members_are_bounded_and_forgotten() -> None:
    # Given a small bound, and an item per position kept
    kept = Kept(limit=20_000)
    kept.advance(7)
    for position in range(1, 1_001):
        row = (position, "x" * 50)
        kept.put(position, row, Item(({"content": row[1]},), 1, position), 7)
    # Then it holds about the bound, the newest still there, each only for its own row
    assert 0 < len(kept) < 100
    assert kept.get(1_000, (1_000, "x" * 50))[1] is not None
    assert kept.get(1_000, (1_000, "y" * 50)) == (False, None)
    assert kept.get(1, (1, "x" * 50)) == (False, None)
    # and after `forget`, nothing
    kept.forget()
    assert len(kept) == 0


def test_kept_members_go_when_content_moves_on_and_are_not_kept_from_before() -> None:
    # Given an item kept at content generation 3
    kept = Kept()
    kept.advance(3)
    item = Item(({"content": "hi"},), 1, 1)
    kept.put(1, (1,), item, 3)
    # When a reader that saw an older generation advances, nothing changes
    kept.advance(2)
    assert kept.get(1, (1,)) == (True, item)
    # When a reader sees a newer generation (an erasure since), everything goes
    kept.advance(4)
    assert kept.get(1, (1,)) == (False, None)
    # and what a reader rendered from content read under generation 3 is not kept now
    kept.put(1, (1,), item, 3)
    assert kept.get(1, (1,)) == (False, None)
    # while what it renders under the current one is, even a member that renders nothing
    kept.put(2, (2,), None, 4)
    assert kept.get(2, (2,)) == (True, None)


def test_a_server_lets_go_of_what_it_kept_when_an_erasure_is_announced(
        api: ApiServer) -> None:
    # Given her secret in contexts the server rendered (a turn answered ahead of the fold
    # keeps its tail's members; the read after it keeps what the projection holds)
    client = api.client(api.token("gw"))
    client.turn(event_dict(text=SECRET, message_id="s1"))
    second = client.turn(event_dict(sender="222", sender_name="bob", text="bob's words",
                                    message_id="s2"))
    client.context(second["session_id"], after=second["position"])
    app: Any = api.server.config.app  # the server runs in this process
    assembler: ContextAssembler = app.state.services.assembler
    assert SECRET in _kept_texts(assembler)
    # When she is erased, and no context of that session is read again
    erase(api.engine, sender_selector("discord:111"), "her request")
    # Then the server lets go of everything it kept once the erasure's notice arrives
    deadline = time.monotonic() + 30
    while SECRET in _kept_texts(assembler) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert SECRET not in _kept_texts(assembler)
