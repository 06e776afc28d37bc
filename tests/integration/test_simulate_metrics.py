"""Every metric of `convlog simulate` equals a direct Python computation on small random logs.

The simulation decides the candidate's sessions in memory; the reference reads
them from the same policy built as an ordinary projection, so every number also
proves the replay made the projection's sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from eventlog.events import Event
from eventlog.store import EventStore
from eventlog.tokens import TokenCounter
from projections.policy import Policy
from projections.registry import get
from projections.resolver import compile_policy, session_id_for
from projections.simulate import Params, Window, compare
from projections.simulate.compare import zones
from tests.fixtures.builders import START, event_dict
from tests.fixtures.profiles import examples
from tests.fixtures.projections import new_projection, project
from tests.integration import simulate_reference as ref

ZONE = "z9"
POLICIES: list[dict[str, Any]] = [
    {},
    {"dimensions": ["chat", "sender"]},
    {"spaces": {"discord:g1": {"session_scope": "guild", "privacy_zones": [ZONE]}}},
    {"dimensions": [], "spaces": {"discord:g1": {"privacy_zones": [ZONE]}}},
]
CHATS = [("c1", "channel", "g1"), ("c2", "channel", "g1"), (ZONE, "channel", "g1"),
         ("d1", "dm", None)]
WORDS = ["deploy", "the", "pipeline", "is", "green", "why", "ok", "tokens", "🙂"]

steps = st.lists(st.tuples(
    st.sampled_from(["received"] * 5 + ["sent"] * 3 + ["tool", "summary"]),
    st.integers(0, len(CHATS) - 1),  # chat
    st.sampled_from(["u1", "u2", "u3"]),  # sender
    st.sampled_from([0, 1, 2, 4, 9, 30, -3]),  # minutes after the previous event
    st.integers(1, 25),  # words
    st.integers(0, 10**6),  # which earlier message a reply or summary names
), min_size=1, max_size=45)


def build_log(plan: list[tuple[str, int, str, int, int, int]], policy: Policy) -> list[Event]:
    compiled = compile_policy(policy)
    clock = START
    received: list[dict[str, Any]] = []
    events: list[Event] = []
    for i, (kind, chat_index, sender, gap, words, pick) in enumerate(plan):
        clock += timedelta(minutes=gap)
        chat, chat_type, space = CHATS[chat_index]
        body = " ".join(WORDS[(pick + k) % len(WORDS)] for k in range(words))
        at = clock.isoformat().replace("+00:00", "Z")
        address = {"chat": chat, "chat_type": chat_type, "space": space}
        earlier = [r for r in received if r["chat"] == chat]
        if kind in ("sent", "tool") and earlier:
            target = earlier[pick % len(earlier)]
            data = event_dict(type="message.sent" if kind == "sent" else "tool.used",
                              sender=None, sender_name=None, reply_to=target["message_id"],
                              message_id=f"a{i}", text=body, occurred_at=at, **address)
        elif kind == "summary" and received:
            target = received[pick % len(received)]
            key = compiled.resolve(Event.model_validate(target)).key
            data = {"type": "summary.recorded", "agent": "main", "platform": "discord",
                    "occurred_at": at, "text": "summary " + body,
                    "session_id": str(session_id_for(compiled, key, 0)),
                    "position": pick % (i + 2)}
        else:
            data = event_dict(sender=sender, message_id=f"m{i}", text=body, occurred_at=at,
                              **address)
            received.append(data)
        events.append(Event.model_validate(data))
    return events


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, policy_index=st.integers(0, len(POLICIES) - 1),
       budget=st.sampled_from([5, 40, 120, 100_000]),
       ttl=st.sampled_from([None, 0.0, 5.0]),
       window=st.sampled_from([(None, None), (10, None), (None, 60), (20, 90)]))
def test_each_metric_equals_a_direct_computation(
        database_factory: Callable[[], AbstractContextManager[str]],
        token_counter: TokenCounter, plan: list[tuple[str, int, str, int, int, int]],
        policy_index: int, budget: int, ttl: float | None,
        window: tuple[int | None, int | None]) -> None:
    check_metrics(database_factory, token_counter, plan, policy_index, budget, ttl, window)


def check_metrics(database_factory: Callable[[], AbstractContextManager[str]],
                  token_counter: TokenCounter, plan: list[tuple[str, int, str, int, int, int]],
                  policy_index: int, budget: int, ttl: float | None,
                  window: tuple[int | None, int | None]) -> None:
    # Given a small random log under a random policy, with summaries, replies, tools,
    # times out of order, and a window, budget and cache lifetime
    policy = Policy.model_validate({"name": "candidate", **POLICIES[policy_index]})
    since = START + timedelta(minutes=window[0]) if window[0] is not None else None
    until = START + timedelta(minutes=window[1]) if window[1] is not None else None
    with database_factory() as url:
        engine = create_engine(url)
        store = EventStore(engine, token_counter)
        try:
            store.append(build_log(plan, policy))
            new_projection(engine, "candidate", policy)
            project(engine, store, "candidate")
            project(engine, store, "default")
            # When the simulation compares the policy with the default projection
            comparison = compare(engine, store, [("candidate", policy)], Window(0, since, until),
                                 Params(budget=budget, cache_ttl_minutes=ttl), against="default")
            got = comparison.columns[1]
            with engine.begin() as conn:
                info, base = get(conn, "candidate"), get(conn, "default")
                upto = comparison.window.upto
                assert upto == min(info.checkpoint, base.checkpoint)
                members = ref.load(conn, info.id, upto)
                baseline = ref.load(conn, base.id, upto)
                recorded = ref.summaries(conn, info.id)
            # Then every number equals the direct computation from the same rows
            turns = [t for t in ref.turns(members, recorded, budget, set(zones(policy)),
                                          None if ttl is None else ttl * 60)
                     if ref.in_window(t.member.at, since, until)]
            assert got.turns == len(turns)
            assert got.context_tokens == sum(t.context for t in turns)
            assert got.cache_read_tokens == sum(t.cache_read for t in turns)
            assert got.cache_write_tokens == sum(t.context - t.cache_read for t in turns)
            assert got.cross_user_tokens == sum(t.cross_user for t in turns)
            assert got.privacy_leak_tokens == sum(t.leak for t in turns) == 0
            assert got.interrupts == ref.interrupts(members, since, until)
            sizes = ref.sizes(members, budget, since, until)
            assert (got.sessions, got.sessions_by_kind, got.multi_chat_sessions) == (
                sizes["sessions"], sizes["by_kind"], sizes["multi"])
            assert (got.size_p50, got.size_p95, got.size_max) == (
                sizes["p50"], sizes["p95"], sizes["max"])
            assert got.over_budget == sizes["over"]
            assert (got.crossings[0].crossed_at if got.crossings else None) == \
                sizes["first_crossing"]
            assert got.orphaned_sessions == ref.orphans(baseline, members, since, until)
            if policy_index == 1:  # per-user sessions: nobody sees another's words
                assert got.cross_user_tokens == 0 and got.interrupts == 0
        finally:
            engine.dispose()


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, policy_index=st.integers(0, len(POLICIES) - 1),
       budget=st.sampled_from([5, 40, 120, 100_000]),
       ttl=st.sampled_from([None, 0.0, 5.0]),
       window=st.sampled_from([(None, None), (10, None), (None, 60), (20, 90)]))
def test_each_metric_equals_a_direct_computation_at_length(
        database_factory: Callable[[], AbstractContextManager[str]],
        token_counter: TokenCounter, plan: list[tuple[str, int, str, int, int, int]],
        policy_index: int, budget: int, ttl: float | None,
        window: tuple[int | None, int | None]) -> None:
    check_metrics(database_factory, token_counter, plan, policy_index, budget, ttl, window)
