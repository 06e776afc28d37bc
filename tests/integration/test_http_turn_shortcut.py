"""POST /v1/turns past FastAPI (`workers.api.shortcut`): what the shortcut answers is what the
route answers, and what it does not take reaches the route with its body."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer
from workers.api import shortcut
from workers.api.routes_events import answer_turn
from workers.api.schemas import TurnResponse


@pytest.fixture
def shortcut_answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many turns the shortcut answered (the server runs in this process)."""
    answered: list[int] = []

    def counted(*args: Any) -> Any:
        answered.append(1)
        return answer_turn(*args)

    monkeypatch.setattr(shortcut, "answer_turn", counted)
    return answered


def _count(api: ApiServer) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


def test_the_shortcut_answers_as_the_route_and_as_a_read_of_the_context(
        api: ApiServer, shortcut_answers: list[int]) -> None:
    # Given a token the server has not seen: its first turn is the route's (a lookup)
    client = api.client(api.token("gw"))
    first = client.turn(event_dict(text="where is the mill?", message_id="q1"))
    assert shortcut_answers == []
    session = first["session_id"]
    client.append([event_dict(type="message.sent", sender="bot", reply_to="q1",
                              message_id="a1", text="let me look"),
                   event_dict(type="tool.used", sender=None, message_id=None, reply_to="q1",
                              meta={"tool": "search", "arguments": {"q": "mill"}},
                              text="the old mill, north road")])
    client.request("POST", f"/v1/sessions/{session}/summaries",
                   json={"covers_position": first["position"], "text": "They asked."})
    # When it takes more turns, with senders tagged and a small budget too, each context
    # read back right after (through the response model)
    turns, reads = [], []
    for n, options in ((2, {"tag_senders": True}), (3, {"budget": 40})):
        turns.append(client.turn(event_dict(text=f"turn {n}", message_id=f"q{n}"),
                                 **options))
        reads.append(client.request("GET", f"/v1/sessions/{session}/context", params={
            "after": turns[-1]["position"], **{k: str(v).lower() for k, v in options.items()}}))
    # Then the shortcut answered them, each in the documented shape
    assert len(shortcut_answers) == 2
    for turn in (first, *turns):
        assert TurnResponse.model_validate(turn).model_dump(mode="json") == turn
    # and each context is the one the read gives
    for turn, read in zip(turns, reads, strict=True):
        assert turn["context"] == read
    assert [m["role"] for m in turns[0]["context"]["messages"]] == [
        "system", "assistant", "assistant", "tool", "user"]
    assert turns[0]["context"]["messages"][-1]["content"].startswith("[alice in #")


def test_what_the_shortcut_does_not_take_is_refused_by_the_route(
        api: ApiServer, shortcut_answers: list[int]) -> None:
    # Given tokens the server has seen: one may ingest and read, one may only read
    writer, reader = api.token("gw"), api.token("ro", verbs=("read",))
    for token in (writer, reader):
        assert httpx.get(f"{api.url}/v1/sessions",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
    valid = json.dumps({"event": event_dict()})

    def post(token: str | None, body: str, media: str = "application/json") -> httpx.Response:
        headers = {"Content-Type": media}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(f"{api.url}/v1/turns", content=body, headers=headers)

    # When turns come that the shortcut leaves to the route
    answers = [post(writer, valid, "text/plain"), post(writer, valid[:-1]),
               post(writer, json.dumps({"event": event_dict(), "budget": -1})),
               post(writer, json.dumps({"event": event_dict(), "extra": 1})),
               post(writer, ""), post(reader, valid), post(None, valid),
               post("not-a-token", valid)]
    # Then the route refuses each with its own code, and nothing was appended
    assert [(a.status_code, a.json()["code"]) for a in answers] == [
        (422, "INVALID_REQUEST"), (422, "INVALID_REQUEST"), (422, "INVALID_REQUEST"),
        (422, "INVALID_REQUEST"), (422, "INVALID_REQUEST"), (403, "VERB_NOT_ALLOWED"),
        (401, "UNAUTHORIZED"), (401, "UNAUTHORIZED")]
    assert shortcut_answers == []
    assert _count(api) == 0
    # and a valid one sent the same way is the shortcut's
    assert post(writer, valid).status_code == 200
    assert shortcut_answers == [1]


def test_errors_in_the_shortcut_have_the_apps_shape_and_codes(
        api: ApiServer, shortcut_answers: list[int]) -> None:
    # Given a token for agent "main" the server has seen
    client = api.client(api.token("gw"))
    client.turn(event_dict())
    # When turns are refused past the shortcut's own checks
    answers = []
    for event in (event_dict(agent="other"), event_dict(type="message.edited"),
                  event_dict(occurred_at="yesterday")):
        answer = client.http.post("/v1/turns", json={"event": event})
        answers.append((answer.status_code, answer.json()["code"], set(answer.json())))
    # Then each is the app's error shape with the route's code
    assert [(status, code) for status, code, _ in answers] == [
        (403, "AGENT_NOT_IN_SCOPE"), (422, "TURN_NEEDS_MESSAGE"), (422, "INVALID_EVENT")]
    assert all(keys <= {"code", "message", "hint", "details"} for _, _, keys in answers)
    assert len(shortcut_answers) == 3  # the first turn was the route's (a lookup)
    # and the latency histogram names the route for every one of them
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'route="/v1/turns",status="200"' in metrics
    assert 'route="/v1/turns",status="403"' in metrics


def test_a_turns_body_over_the_limit_or_stalled_is_refused_in_the_shortcut(
        api_factory: Callable[..., ApiServer], shortcut_answers: list[int]) -> None:
    # Given a server with a 4,000-byte body limit and half a second for a body, and a
    # token it has seen
    api = api_factory(api_max_body_bytes=4_000, api_body_timeout=0.5)
    token = api.token("gw")
    client = api.client(token)
    client.turn(event_dict())

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it streams
        yield b'{"event": {"type": "message.received", "text": "'
        for _ in range(10):
            yield b"x" * 1_000
        yield b'"}}'

    # When one turn streams past the limit, and another stops halfway
    large = client.http.post("/v1/turns", content=chunks(),
                             headers={"Content-Type": "application/json"})
    place = urlsplit(api.url)
    with socket.create_connection((place.hostname, place.port), timeout=10) as stalled:
        stalled.sendall(b"POST /v1/turns HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                        b"Content-Type: application/json\r\n"
                        + f"Authorization: Bearer {token}\r\n\r\n".encode() + b'{"event": ')
        answer = b""
        while b"REQUEST_TIMEOUT" not in answer and (chunk := stalled.recv(4096)):
            answer += chunk
    # Then the first is a 413 and the second a 408, with their codes, and neither appended
    assert (large.status_code, large.json()["code"]) == (413, "BODY_TOO_LARGE")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert _count(api) == 1
