"""`GET /v1/search`: hits within the token's agents only, with sessions and cursors."""

from __future__ import annotations

from typing import Any

import pytest
from convlog_client import ConvlogApiError, ConvlogClient

from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer


def search(client: ConvlogClient, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.request("GET", "/v1/search", params=params)
    return result


def test_a_token_finds_only_its_agents_messages(api: ApiServer) -> None:
    # Given the same word said to agent main and to agent ops
    writer = api.client(api.token("all", agents=["*"]))
    mine = writer.turn(event_dict(agent="main", chat="c1", text="the kiwifruit order"))
    theirs = writer.turn(event_dict(agent="ops", chat="c2", text="kiwifruit in ops"))
    main_only = api.client(api.token("main-reader", agents=["main"], verbs=["read"]))
    # When a token scoped to main searches, even naming the other agent
    found = search(main_only, q="kiwifruit")
    named = search(main_only, q="kiwifruit", agent="ops")
    # Then only main's message is a hit, with the session the turn reported
    assert [h["position"] for h in found["hits"]] == [mine["position"]]
    assert found["hits"][0]["session_id"] == mine["session_id"]
    assert named["hits"] == []
    # and the other agent's session is unknown to it, exactly as a missing one
    with pytest.raises(ConvlogApiError) as hidden:
        search(main_only, q="kiwifruit", session=theirs["session_id"])
    assert (hidden.value.status, hidden.value.code) == (404, "UNKNOWN_SESSION")
    # while a token for every agent sees both, also when it names both in a comma list
    assert len(search(writer, q="kiwifruit")["hits"]) == 2
    assert len(search(writer, q="kiwifruit", agent="main, ops")["hits"]) == 2
    # and a comma list is cut to the token's agents
    assert [h["position"] for h in search(main_only, q="kiwifruit", agent="ops,main")["hits"]
            ] == [mine["position"]]


def test_pages_filters_and_codes_over_http(api: ApiServer) -> None:
    client = api.client(api.token("gw"))
    positions = [client.turn(event_dict(chat="c1", sender="111", text=f"mango {n}"))["position"]
                 for n in range(5)]
    client.turn(event_dict(chat="c2", sender="222", text="mango elsewhere"))
    # Pages of two cover the chat's five hits once each
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "mango", "chat": "discord:c1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = search(client, **params)
        seen += [h["position"] for h in page["hits"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == positions
    assert [h["sender"] for h in search(client, q="mango", sender="discord:222")["hits"]] == [
        "222"]
    for params, code in (({"q": "!!"}, "EMPTY_QUERY"), ({"q": "mango", "cursor": "x"},
                                                         "INVALID_CURSOR"),
                         ({"q": "mango", "chat": "nocolon"}, "INVALID_REQUEST")):
        with pytest.raises(ConvlogApiError) as bad:
            search(client, **params)
        assert (bad.value.status, bad.value.code) == (422, code)


def test_search_needs_the_read_verb(api: ApiServer) -> None:
    ingest_only = api.client(api.token("in", verbs=["ingest"]))
    with pytest.raises(ConvlogApiError) as refused:
        search(ingest_only, q="anything")
    assert (refused.value.status, refused.value.code) == (403, "VERB_NOT_ALLOWED")


def test_an_index_far_behind_answers_503_until_caught_up_never_a_partial_result(
        api_factory: Any) -> None:
    # Given a server that indexes 2 events a batch and may not wait for a second batch,
    # and 5 unindexed events
    api = api_factory(api_catch_up_max_lag=2, api_consistency_timeout=0.001)
    client = api.client(api.token("gw"))
    client.append([event_dict(text=f"papaya {n}") for n in range(5)])
    answers: list[int | str] = []
    for _ in range(4):
        try:
            answers.append(len(client.request("GET", "/v1/search", params={"q": "papaya"},
                                              retry=False)["hits"]))
        except ConvlogApiError as error:
            answers.append(f"{error.status} {error.code}")
    # Then it refuses while more than 2 events are missing (indexing 2 each time), and
    # then finds all five: never fewer
    assert answers == ["503 SEARCH_INDEX_LAGGING", "503 SEARCH_INDEX_LAGGING", 5, 5]


def test_a_search_right_after_a_large_ingest_indexes_it_and_answers(api_factory: Any) -> None:
    # Given a server that indexes 50 events a batch, and 600 unindexed events
    api = api_factory(api_catch_up_max_lag=50)
    client = api.client(api.token("gw"))
    client.append([event_dict(text=f"guava {n}", message_id=f"g{n}") for n in range(600)])
    # When the first search comes at once
    found = client.request("GET", "/v1/search", params={"q": "guava", "limit": 100},
                           retry=False)
    # Then it indexed batch after batch within the request and answered in full
    assert len(found["hits"]) == 100 and found["next_cursor"] is not None

