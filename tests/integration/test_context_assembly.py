"""Context assembly: within budget, newest kept, tool pairs whole, time travel exact."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine, text

from eventlog.store import EventStore
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from tests.fixtures.builders import make_event
from tests.fixtures.projections import new_projection


def only_session(engine: Engine, name: str = "default", sender: str | None = None):
    with engine.connect() as conn:
        projection_id = get(conn, name).id
        sql = "SELECT session_id FROM sessions WHERE projection_id = :p"
        if sender:
            sql += " AND :sender = ANY(participants)"
        return projection_id, conn.execute(text(sql), {"p": projection_id,
                                                       "sender": sender}).scalar_one()


def conversation(store: EventStore, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        events.append(make_event(message_id=f"q{i}", text=" ".join(["word"] * rng.randint(1, 40))))
        if rng.random() < 0.5:
            events.append(make_event(type="message.sent", message_id=f"a{i}", reply_to=f"q{i}",
                                     sender="bot", text="reply " * rng.randint(1, 30)))
        if rng.random() < 0.3:
            events.append(make_event(type="tool.used", message_id=None, reply_to=f"q{i}",
                                     sender=None, meta={"tool": "search", "arguments": {"q": i}},
                                     text="result " * rng.randint(1, 200)))
    store.append(events)


@pytest.mark.parametrize("budget", [0, 1, 37, 250, 1000, 100_000])
def test_budget_is_never_exceeded_and_the_newest_are_kept(store: EventStore, engine: Engine,
                                                         budget: int) -> None:
    conversation(store, 60)
    Projector(engine, store).catch_up()
    projection_id, session_id = only_session(engine)
    with engine.connect() as conn:
        context = ContextAssembler(store.counter).assemble(conn, projection_id, session_id,
                                                           budget=budget)
        positions = [p for (p,) in conn.execute(text(
            "SELECT position FROM session_members WHERE session_id = :s ORDER BY position"),
            {"s": session_id})]
    data = context.as_dict()
    assert data["tokens"]["total"] <= budget
    kept = [item.position for item in context.items]
    # the newest members, contiguous up to the last one, oldest first
    assert kept == positions[len(positions) - len(kept):]
    assert data["left_out"]["messages"] == len(positions) - len(kept)


def test_a_tool_result_never_appears_without_its_call(store: EventStore, engine: Engine) -> None:
    conversation(store, 40, seed=3)
    Projector(engine, store).catch_up()
    projection_id, session_id = only_session(engine)
    with engine.connect() as conn:
        for budget in range(0, 3000, 37):
            messages = ContextAssembler(store.counter).assemble(
                conn, projection_id, session_id, budget=budget).messages
            for index, message in enumerate(messages):
                if message["role"] == "tool":
                    call = messages[index - 1]
                    assert index > 0 and call["tool_calls"][0]["id"] == message["tool_call_id"]


def test_as_of_equals_the_context_of_the_truncated_log(store: EventStore, engine: Engine,
                                                       database_factory, token_counter) -> None:
    # Given a log with edits and deletes, projected to the end
    conversation(store, 30, seed=5)
    store.append([make_event(type="message.edited", message_id="q3", text="edited text"),
                  make_event(type="message.deleted", message_id="q5", text=None, sender=None)])
    conversation(store, 10, seed=6)
    Projector(engine, store).catch_up()
    projection_id, session_id = only_session(engine)
    events = list(store.iter_events())
    from sqlalchemy import create_engine

    for cut in (5, 31, len(events) - 12, len(events)):
        as_of = events[cut - 1].position
        with engine.connect() as conn:
            travelled = ContextAssembler(store.counter).assemble(
                conn, projection_id, session_id, budget=700, as_of=as_of).as_dict()
        # When the same events up to that position are projected in a fresh log
        with database_factory() as url:
            other = create_engine(url)
            other_store = EventStore(other, token_counter)
            from eventlog.events import Event

            other_store.append([Event.model_validate({k: v for k, v in e.payload.items()})
                                for e in events[:cut]])
            Projector(other, other_store).catch_up()
            pid, sid = only_session(other)
            with other.connect() as conn:
                truncated = ContextAssembler(token_counter).assemble(
                    conn, pid, sid, budget=700).as_dict()
            other.dispose()
        # Then time travel gives the same messages (positions are the same in both logs)
        assert travelled["messages"] == truncated["messages"]
        assert travelled["tokens"] == truncated["tokens"]


def test_summary_starts_the_context(store: EventStore, engine: Engine) -> None:
    conversation(store, 10)
    Projector(engine, store).catch_up()
    projection_id, session_id = only_session(engine)
    store.append([make_event(type="summary.recorded", chat=None, chat_type=None, sender=None,
                             message_id=None, session_id=str(session_id), position=8,
                             text="Summary: they talked about words.")])
    conversation(store, 2, seed=9)
    Projector(engine, store).catch_up()
    with engine.connect() as conn:
        context = ContextAssembler(store.counter).assemble(conn, projection_id, session_id,
                                                           budget=10_000)
    assert context.messages[0]["role"] == "system"
    assert context.messages[0]["content"] == "Summary: they talked about words."
    assert all(item.position > 8 for item in context.items)


def test_seed_000_per_user_policy_keeps_b_clear_of_a_tool_output(store: EventStore,
                                                                 engine: Engine) -> None:
    # Given two users in one Discord channel, and a per-user policy
    new_projection(engine, "per-user", Policy(dimensions=("chat", "sender")))
    store.append([
        make_event(sender="userA", sender_name="Alice", message_id="a1",
                   text="please analyse the build logs"),
        *[make_event(type="tool.used", sender=None, message_id=None, reply_to="a1",
                     meta={"tool": "read_file"}, text=f"LOG-LINE-{i} " * 300)
          for i in range(10)],
        make_event(type="message.sent", sender="bot", message_id="r1", reply_to="a1",
                   text="the build failed in step 3"),
        make_event(sender="userB", sender_name="Bob", message_id="b1",
                   text="what's the weather like?"),
    ])
    Projector(engine, store).catch_up()
    Projector(engine, store, "per-user").catch_up()
    # When user B's context is assembled under each policy
    with engine.connect() as conn:
        shared_pid, shared = only_session(engine)
        per_pid, b_session = only_session(engine, "per-user", sender="userB")
        assembler = ContextAssembler(store.counter)
        shared_text = str(assembler.assemble(conn, shared_pid, shared, budget=200_000).messages)
        b_text = str(assembler.assemble(conn, per_pid, b_session, budget=200_000).messages)
    # Then the shared channel session drags A's tool output along; B's own holds none of it
    assert "LOG-LINE-3" in shared_text
    assert "LOG-LINE" not in b_text and "weather" in b_text
