"""POST /v1/events and /v1/turns: idempotent retries, ingest's codes, limits, one error shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from convlog_client import ConvlogApiError
from sqlalchemy import text

from eventlog.erasure import erase, sender_selector
from eventlog.events import Rejection, parse_line
from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer


def _count(api: ApiServer) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


def test_a_retried_batch_is_all_duplicates_with_the_same_positions(api: ApiServer) -> None:
    # Given a batch appended once as a JSON array
    client = api.client(api.token("gw"))
    batch = [event_dict() for _ in range(5)]
    first = client.append(batch)
    # When the gateway retries it, as JSON and as NDJSON (a lost answer, at-least-once)
    again = client.append(batch)
    ndjson = httpx.post(f"{api.url}/v1/events", content="\n".join(map(json.dumps, batch)),
                        headers={"Authorization": client.http.headers["Authorization"],
                                 "Content-Type": "application/x-ndjson"}).json()
    # Then nothing is appended twice, and each line names the position it already has
    assert (first["appended"], again["appended"], ndjson["appended"]) == (5, 0, 0)
    assert again["duplicates"] == ndjson["duplicates"] == 5
    positions = [r["position"] for r in first["results"]]
    assert [r["position"] for r in again["results"]] == positions
    assert [r["position"] for r in ndjson["results"]] == positions
    assert {r["status"] for r in again["results"]} == {"duplicate"}
    assert _count(api) == 5


def test_a_retried_turn_is_a_duplicate_in_the_same_session(api: ApiServer) -> None:
    # Given a turn that was appended
    client = api.client(api.token("gw"))
    event = event_dict()
    first = client.turn(event)
    # When the same turn is sent again
    again = client.turn(event)
    # Then it is a duplicate at the same position, in the same session, with one copy in context
    assert (first["status"], again["status"]) == ("appended", "duplicate")
    assert again["position"] == first["position"]
    assert again["session_id"] == first["session_id"]
    assert [m["content"] for m in again["context"]["messages"]] == [event["text"]]


def test_an_erased_message_sent_again_under_a_new_id_stays_erased(api: ApiServer) -> None:
    # Given a message appended over HTTP with the gateway's id, then erased
    client = api.client(api.token("gw"))
    event = event_dict(id="delivery-1", text="erase me, zebra-4417")
    position = client.append([event])["results"][0]["position"]
    erase(api.engine, sender_selector("discord:111"), "request 1")
    # When the gateway delivers it again with a fresh id, as a batch and as a turn
    batch = client.append([{**event, "id": "delivery-2"}])
    turn = client.turn({**event, "id": "delivery-3"})
    # Then both are duplicates at the erased message's position, and its text is nowhere
    assert batch["results"][0] == {**batch["results"][0], "status": "duplicate",
                                   "position": position}
    assert (turn["status"], turn["position"]) == ("duplicate", position)
    assert "zebra" not in json.dumps(turn)
    assert _count(api) == 1


def test_the_edge_refuses_what_ingest_refuses_with_the_same_codes(api: ApiServer) -> None:
    # Given a batch of good lines and lines that ingest refuses, each for another reason
    bad = [
        json.dumps(event_dict(text="nul \u0000 here")),
        json.dumps(event_dict(occurred_at="0001-01-01T00:00:00Z")),
        json.dumps(event_dict(type="summary.recorded", session_id="not-a-uuid", position=3)),
        '{"type": "message.received", "agent": ',
        json.dumps(event_dict(meta={"x": float("nan")})),
        json.dumps(event_dict(chat=None)),
    ]
    lines = [json.dumps(event_dict()), *bad, json.dumps(event_dict())]
    expected = {number: parsed.code for number, line in enumerate(lines, start=1)
                if isinstance(parsed := parse_line(line, line=number), Rejection)}
    client = api.client(api.token("gw"))
    # When they are sent as NDJSON
    result = client.request("POST", "/v1/events", content="\n".join(lines).encode(),
                            headers={"Content-Type": "application/x-ndjson"})
    # Then every bad line is refused with ingest's code and every good one is kept
    got = {r["line"]: r["code"] for r in result["results"] if r["status"] == "rejected"}
    assert got == expected and len(expected) == len(bad)
    assert {"NUL_CHARACTER", "TIME_OUT_OF_RANGE", "SESSION_ID_NOT_UUID", "MALFORMED_JSON",
            "NON_FINITE_NUMBER"} <= set(got.values())
    assert result["appended"] == 2 and _count(api) == 2


def test_an_id_used_by_another_event_is_a_conflict(api: ApiServer) -> None:
    # Given an event appended under the gateway's own id
    client = api.client(api.token("gw"))
    client.append([event_dict(id="gw-1", text="first")])
    # When a different event comes under the same id, in a batch and as a turn
    batch = client.append([event_dict(id="gw-1", text="second")])
    with pytest.raises(ConvlogApiError) as turn:
        client.turn(event_dict(id="gw-1", text="third"))
    # Then it is refused as ID_CONFLICT (409 for the turn), never merged
    assert batch["results"][0]["code"] == "ID_CONFLICT"
    assert (turn.value.status, turn.value.code) == (409, "ID_CONFLICT")
    assert _count(api) == 1


@pytest.fixture
def small_api(api_factory: Callable[..., ApiServer]) -> ApiServer:
    return api_factory(api_max_body_bytes=4_000, api_max_batch=3)


def test_bodies_and_batches_over_their_limits_get_413_with_a_code(small_api: ApiServer) -> None:
    # Given a server with a 4,000-byte body limit and a batch limit of 3
    client = small_api.client(small_api.token("gw"))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it streams
        for _ in range(10):
            yield (json.dumps(event_dict(text="x" * 500)) + "\n").encode()

    # When a declared large body, a streamed one and a long batch are sent
    errors = []
    for send in (lambda: client.append([event_dict(text="x" * 5_000)]),
                 lambda: client.request("POST", "/v1/events", content=chunks(),
                                        headers={"Content-Type": "application/x-ndjson"}),
                 lambda: client.append([event_dict() for _ in range(4)])):
        with pytest.raises(ConvlogApiError) as caught:
            send()
        errors.append((caught.value.status, caught.value.code))
    # Then each is a 413 naming its limit, and nothing was appended
    assert errors == [(413, "BODY_TOO_LARGE"), (413, "BODY_TOO_LARGE"), (413, "BATCH_TOO_LARGE")]
    assert _count(small_api) == 0


def test_every_error_has_the_one_shape_and_no_trace(api: ApiServer) -> None:
    # Given a valid token
    headers = {"Authorization": f"Bearer {api.token('gw')}"}
    # When a path, a method, a request body and a query parameter are wrong
    answers = [httpx.get(f"{api.url}/v2/nothing", headers=headers),
               httpx.put(f"{api.url}/v1/turns", headers=headers),
               httpx.post(f"{api.url}/v1/turns", headers=headers, json={"budget": -1}),
               httpx.get(f"{api.url}/v1/sessions", headers=headers, params={"limit": 0}),
               httpx.post(f"{api.url}/v1/turns", headers=headers,
                          json={"event": event_dict(occurred_at="yesterday")})]
    # Then each answer is {code, message, hint?} with a stable code and no stack trace
    assert [(r.status_code, r.json()["code"]) for r in answers] == [
        (404, "NOT_FOUND"), (405, "METHOD_NOT_ALLOWED"), (422, "INVALID_REQUEST"),
        (422, "INVALID_REQUEST"), (422, "INVALID_EVENT")]
    for response in answers:
        assert set(response.json()) <= {"code", "message", "hint", "details"}
        assert "Traceback" not in response.text and 'File "' not in response.text
