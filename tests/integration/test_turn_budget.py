"""A turn's cost in statements, counted at the driver, and turns under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg

from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer
from workers.api.schemas import TurnResponse

STATEMENT_BUDGET = 3  # a message in an existing session (issue: at most 6, goal 4)
BACKGROUND = ("convlog-follower",)  # the fold a batch of turns shares, not one turn's


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Every statement psycopg sends meanwhile, except from the server's follower."""
    sent: list[str] = []
    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany",
                                                                   "copy")}

    def counting(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread().name not in BACKGROUND:
                sent.append(str(query if isinstance(query, str | bytes) else
                                query.as_string(self.connection))[:80])
            return original(self, query, *args, **kwargs)
        return call

    for name, original in originals.items():
        setattr(psycopg.Cursor, name, counting(original))
    try:
        yield sent
    finally:
        for name, original in originals.items():
            setattr(psycopg.Cursor, name, original)


def test_a_turn_in_an_existing_session_stays_within_its_statement_budget(
        api: ApiServer) -> None:
    # Given a session of twenty messages taken as turns (the token and projection seen)
    client = api.client(api.token("gw"))
    for n in range(20):
        client.turn(event_dict(text=f"message {n}", message_id=f"m{n}"))
    # When one more turn is taken in it
    with statements_sent() as sent:
        turn = client.turn(event_dict(text="the newest", message_id="m20"))
    # Then its context holds it, and the turn sent no more statements than its budget
    assert turn["context"]["messages"][-1]["content"] == "the newest"
    # and its body, written without the response model, is exactly the documented shape
    assert TurnResponse.model_validate(turn).model_dump(mode="json") == turn
    assert len(sent) <= STATEMENT_BUDGET, "\n".join(sent)


def test_concurrent_turns_each_see_their_own_message(api: ApiServer) -> None:
    # Given 32 gateways' chats, each to take eight turns at once with the others
    token = api.token("gw")

    def chat(n: int) -> list[tuple[str, list[str]]]:
        client = api.client(token)
        seen = []
        for turn in range(8):
            text = f"chat {n} turn {turn}"
            answer = client.turn(event_dict(chat=f"c{n}", text=text, message_id=f"{n}-{turn}"))
            seen.append((text, [m["content"] for m in answer["context"]["messages"]]))
        return seen

    # When they run concurrently
    with ThreadPoolExecutor(32) as pool:
        chats = list(pool.map(chat, range(32)))
    # Then every turn's context ends with its own message and holds its chat's earlier ones
    for n, turns in enumerate(chats):
        for turn, (text, messages) in enumerate(turns):
            assert messages == [f"chat {n} turn {k}" for k in range(turn + 1)], text

