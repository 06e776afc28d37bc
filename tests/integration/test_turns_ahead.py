"""A turn answered ahead of the fold (`projections.ahead`) is the context the fold makes.

A realistic log (replies across chats, tools, edits, threads, resets by command, idle
and daily gaps, summaries) is appended in chunks of random size; after each chunk,
every message of it is answered ahead with the projection as the chunk before left it
(so the tail holds the message and what came before it in the chunk), and only then is
the projection folded. Every answer given ahead must equal, session and context, the
context read at the message's position once the fold has passed it.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

import projections.ahead as ahead_module
from eventlog.appending import prepare
from eventlog.database import driver_rows
from eventlog.events import Event
from eventlog.store import EventStore
from projections.ahead import Ahead, answer_ahead
from projections.context import ContextAssembler
from projections.policy import Policy
from projections.projector import Projector
from projections.registry import get
from projections.sessions import session_of_event
from projections.turns import TURN_TYPES
from tests.fixtures.builders import make_event
from tests.fixtures.projections import POLICIES, new_projection
from workers.tools.workload import generate

BUDGETS = (40, 300, 8_000)  # within the tail, within the projection, everything


@dataclass(frozen=True)
class Asked:
    event: Event
    position: int
    budget: int
    tag_senders: bool
    ahead: Ahead | None


@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_every_answer_given_ahead_is_the_context_the_fold_makes(
        store: EventStore, engine: Engine, policy_name: str, seed: int) -> None:
    # Given a projection under the policy and a realistic log to come, in random chunks
    new_projection(engine, "p", Policy.model_validate(POLICIES[policy_name]))
    events = [Event.model_validate(e) for e in generate(500, seed=seed)]
    rng = random.Random(seed)
    assembler = ContextAssembler(store.counter)
    asked: list[Asked] = []
    start = 0
    while start < len(events):
        chunk = prepare(events[start:start + rng.randint(1, 30)])
        start += len(chunk)
        positions = store.append_prepared(chunk).positions
        # When each message of the chunk is answered ahead of the fold
        with engine.connect() as conn:
            info = get(conn, "p")
            for prepared in chunk:
                event = prepared.event
                if event.type not in TURN_TYPES:
                    continue
                budget, tag = rng.choice(BUDGETS), rng.random() < 0.3
                position = positions[prepared.event_id]
                asked.append(Asked(event, position, budget, tag, answer_ahead(
                    conn, info, assembler, event, position, budget=budget,
                    tag_senders=tag, max_tail=1_000)))
        Projector(engine, store, "p").catch_up()
    # Then most are answered so (the rest wait for the fold: a reset command, an edit
    # or a thread in the tail, a thread's first message)
    answered = [a for a in asked if a.ahead is not None]
    assert len(answered) > len(asked) // 3, (len(answered), len(asked))
    assert len(answered) < len(asked)
    # and each is the context the fold made, read at the message's position by a fresh
    # assembler (nothing rendered before)
    fresh = ContextAssembler(store.counter)
    with engine.connect() as conn:
        info = get(conn, "p")
        for a in answered:
            assert a.ahead is not None
            event = a.event
            session_id = session_of_event(conn, info.id, a.position, (
                event.agent, event.platform, event.account, event.chat, event.message_id))
            assert a.ahead.session_id == session_id, a.position
            assert isinstance(session_id, uuid.UUID)
            expected = fresh.assemble(conn, info.id, session_id, budget=a.budget,
                                      as_of=a.position, tag_senders=a.tag_senders)
            made = {**a.ahead.context.as_dict(), "as_of": a.position}
            assert made == expected.as_dict(), (policy_name, a.position, a.budget)


def test_a_reply_into_a_thread_opened_after_the_checkpoint_is_its_threads_context(
        store: EventStore, engine: Engine) -> None:
    # Given threads that begin with their parent's context, a folded parent message and
    # the thread made from it
    new_projection(engine, "p", Policy.model_validate({"threads": {"inherit_parent": True}}))
    store.append([make_event(message_id="m1", text="the parent message"),
                  make_event(type="thread.created", topic="t1", parent_message_id="m1",
                             message_id="t1", text=None)])
    Projector(engine, store, "p").catch_up()
    # When the thread's first message and the bot's reply to it, said without the thread,
    # are not folded yet, and the reply is answered ahead
    first = make_event(message_id="q1", topic="t1", text="asked in the thread")
    reply = make_event(type="message.sent", sender="bot", message_id="a1", reply_to="q1",
                       text="answered")
    position = store.append([first, reply]).last_position
    assert position is not None
    assembler = ContextAssembler(store.counter)
    with engine.connect() as conn:
        ahead = answer_ahead(conn, get(conn, "p"), assembler, reply, position, budget=8_000,
                             tag_senders=False, max_tail=100)
    Projector(engine, store, "p").catch_up()
    # Then the fold put the reply in the thread's session, which begins with its parent's
    # context, and an answer given ahead (if any) is that context
    with engine.connect() as conn:
        info = get(conn, "p")
        session_id = session_of_event(conn, info.id, position)
        assert session_id is not None
        folded = ContextAssembler(store.counter).assemble(conn, info.id, session_id,
                                                          budget=8_000, as_of=position)
    assert folded.inherited_from is not None
    assert [m["content"] for m in folded.messages] == [
        "the parent message", "asked in the thread", "answered"]
    if ahead is not None:
        assert ahead.session_id == session_id
        assert {**ahead.context.as_dict(), "as_of": position} == folded.as_dict()


def test_a_fold_between_the_reads_is_read_again_not_mixed_in(
        store: EventStore, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two folded chats, and a message in each appended since (the turn's is the last)
    new_projection(engine, "p")
    store.append([make_event(chat="a", message_id="a1"), make_event(chat="b", message_id="b1")])
    Projector(engine, store, "p").catch_up()
    turn = make_event(chat="b", message_id="b2", text="the turn")
    position = store.append([make_event(chat="a", message_id="a2"), turn]).last_position
    assert position is not None
    # When the folder commits a batch just after the tail was read (before the heads of
    # the tail's other keys are)
    tails: list[int] = []
    original = driver_rows

    def folding_after_the_tail(conn: Any, statement: Any, params: Any) -> Any:
        rows = original(conn, statement, params)
        if statement is ahead_module._TAIL:
            tails.append(len(rows))
            if len(tails) == 1:  # the other chat's message, not the turn's
                Projector(engine, store, "p", batch_size=1).catch_up(max_batches=1)
        return rows

    monkeypatch.setattr(ahead_module, "driver_rows", folding_after_the_tail)
    with engine.connect() as conn:
        answer = answer_ahead(conn, get(conn, "p"), ContextAssembler(store.counter), turn,
                              position, budget=8_000, tag_senders=False, max_tail=100)
    # Then the tail is read again (the heads no longer match it), and the answer is the
    # context the fold makes
    assert tails == [2, 1]
    assert answer is not None
    Projector(engine, store, "p").catch_up()
    with engine.connect() as conn:
        info = get(conn, "p")
        folded = ContextAssembler(store.counter).assemble(conn, info.id, answer.session_id,
                                                          budget=8_000, as_of=position)
    assert {**answer.context.as_dict(), "as_of": position} == folded.as_dict()
    assert [m["content"] for m in folded.messages][-1] == "the turn"
