"""The synthetic workload: deterministic, valid, realistic in shape, streaming in bounded memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from eventlog.events import Event, parse_line
from workers.cli.main import main as cli
from workers.tools.workload import generate, write_jsonl

N = 20_000
ALL_TYPES = {
    "message.received", "message.sent", "tool.used", "message.edited", "message.deleted",
    "thread.created", "session.reset",
}


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(generate(N, seed=0))


def _time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _peak_bytes(n: int) -> int:
    tracemalloc.start()
    try:
        for _ in generate(n, seed=3):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_same_seed_gives_the_same_events_and_another_seed_does_not() -> None:
    assert list(generate(3_000, seed=5)) == list(generate(3_000, seed=5))
    assert list(generate(3_000, seed=5)) != list(generate(3_000, seed=6))


@pytest.mark.parametrize("n", [0, 1, 7, 1_000])
def test_yields_exactly_n_events(n: int) -> None:
    assert sum(1 for _ in generate(n, seed=1)) == n


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    assert list(generate(500, seed=2)) == list(generate(2_000, seed=2))[:500]


def test_negative_n_is_refused() -> None:
    with pytest.raises(ValueError, match="n must be"):
        generate(-1)


def test_every_event_validates_and_derives_its_own_id(events: list[dict[str, Any]]) -> None:
    # Given every generated event as a JSONL line
    parsed = [parse_line(json.dumps(event), line=number) for number, event in enumerate(events)]

    # Then each one is a valid event without a gateway id, and no two share a derived id
    assert all(isinstance(event, Event) for event in parsed), next(
        event for event in parsed if not isinstance(event, Event))
    valid = [event for event in parsed if isinstance(event, Event)]
    assert all(event.id is None for event in valid)
    assert len({event.event_id for event in valid}) == N


def test_covers_every_platform_event_type_chat_type_and_agent(
    events: list[dict[str, Any]],
) -> None:
    assert {event["platform"] for event in events} == {"discord", "telegram", "slack", "whatsapp"}
    assert {event["type"] for event in events} >= ALL_TYPES
    assert {event["chat_type"] for event in events} == {"dm", "group", "channel"}
    assert {event["agent"] for event in events} == {"main", "support"}
    dm_platforms = {event["platform"] for event in events if event["chat_type"] == "dm"}
    assert dm_platforms == {"discord", "telegram", "slack", "whatsapp"}


def test_uses_the_seed_documents_guild_channels_and_forum_topics(
    events: list[dict[str, Any]],
) -> None:
    guild_chats = {event["chat"] for event in events if event.get("space") == "1234567890"}
    assert {"1000000001", "1000000002", "1000000003"} <= guild_chats
    forum_topics = {event.get("topic") for event in events if event["chat"] == "-1001234567890"}
    assert {"652", "29"} <= forum_topics


def test_messages_carry_sender_names(events: list[dict[str, Any]]) -> None:
    written = [event for event in events if event["type"] in ("message.received", "message.sent")]
    assert all(event["sender_name"] for event in written)
    assert len({event["sender"] for event in written}) >= 12


def test_references_point_back_to_earlier_messages_of_the_same_chat(
    events: list[dict[str, Any]],
) -> None:
    # Given the messages seen so far, per chat, in the order the stream yields them
    topic_of: dict[tuple[str, str, str], str | None] = {}
    for event in events:
        chat = (event["platform"], event["chat"])
        # Then every reference names a message already yielded in that chat
        for field in ("reply_to", "parent_message_id"):
            if field in event:
                assert (*chat, event[field]) in topic_of, event
        if event["type"] in ("message.edited", "message.deleted"):
            assert (*chat, event["message_id"]) in topic_of, event
        # And an answer or a tool call stays in the topic of the message it answers
        if event["type"] in ("message.sent", "tool.used"):
            assert topic_of[(*chat, event["reply_to"])] == event.get("topic"), event
        if event["type"] in ("message.received", "message.sent"):
            topic_of[(*chat, event["message_id"])] = event.get("topic")


def test_threads_are_created_before_their_messages(events: list[dict[str, Any]]) -> None:
    created: set[tuple[str, str, str]] = set()
    threaded = 0
    for event in events:
        key = (event["platform"], event["chat"], event.get("topic", ""))
        if event["type"] == "thread.created":
            created.add(key)
        elif event["platform"] in ("discord", "slack") and "topic" in event:
            assert key in created, event
            threaded += 1
    assert threaded > 100


def test_agent_answers_a_good_share_of_received_messages(events: list[dict[str, Any]]) -> None:
    types = Counter(event["type"] for event in events)
    assert 0.4 < types["message.sent"] / types["message.received"] < 0.9
    bots = {event["sender"] for event in events if event["type"] == "message.sent"}
    assert bots.isdisjoint(
        event["sender"] for event in events if event["type"] == "message.received")


def test_tool_output_is_long_sometimes_and_bursts_of_ten_calls_happen(
    events: list[dict[str, Any]],
) -> None:
    calls = [event for event in events if event["type"] == "tool.used"]
    assert any(len(event["text"]) > 8_000 for event in calls)  # a few thousand tokens
    per_request: defaultdict[tuple[str, str, str], list[int]] = defaultdict(list)
    for event in calls:
        per_request[(event["platform"], event["chat"], event["reply_to"])].append(
            len(event["text"]))
    bursts = [sizes for sizes in per_request.values() if len(sizes) >= 10]
    assert bursts, "no request with 10+ tool calls"
    assert max(sum(sizes) for sizes in bursts) > 120_000  # seed 000: ~50k tokens


def test_two_edits_of_one_message_never_share_a_time(events: list[dict[str, Any]]) -> None:
    edits = Counter(
        (event["platform"], event["chat"], event["message_id"], event["occurred_at"])
        for event in events if event["type"] == "message.edited")
    assert edits and max(edits.values()) == 1


def test_resets_come_as_events_and_as_commands(events: list[dict[str, Any]]) -> None:
    commands = {event["text"] for event in events if event["type"] == "message.received"}
    assert {"/new", "/reset"} <= commands
    assert any(event["type"] == "session.reset" for event in events)


def test_activity_is_skewed_over_chats_and_users(events: list[dict[str, Any]]) -> None:
    received = [event for event in events if event["type"] == "message.received"]
    per_chat = Counter((event["platform"], event["agent"], event["chat"]) for event in received)
    per_user = Counter(event["sender"] for event in received)
    (busiest, most), *_ = per_chat.most_common()
    assert busiest == ("discord", "main", "1000000001")
    assert most > 10 * min(per_chat.values())
    assert per_user.most_common(1)[0][1] > 5 * min(per_user.values())


def test_time_has_day_long_quiet_gaps(events: list[dict[str, Any]]) -> None:
    times = sorted(_time(event) for event in events)
    assert times[0].isoformat() >= "2026-01-05T09:00:00"
    assert max((later - earlier).total_seconds() for earlier, later in pairwise(times)) > 8 * 3600


def test_gateways_deliver_in_their_own_order_but_interleave_out_of_order(
    events: list[dict[str, Any]],
) -> None:
    # Across gateways, the stream is not sorted by occurred_at ...
    assert any(_time(later) < _time(earlier) for earlier, later in pairwise(events))
    # ... but each gateway (platform + bot account) delivers in time order.
    by_gateway: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)
    for event in events:
        by_gateway[(event["platform"], event.get("account", "default"))].append(_time(event))
    assert len(by_gateway) >= 5
    for gateway, times in by_gateway.items():
        assert times == sorted(times), gateway


def test_users_talk_over_each_other_in_one_channel(events: list[dict[str, Any]]) -> None:
    # Seed 000: someone else writes between a question and the agent's answer.
    last_sender: dict[tuple[str, str], str] = {}
    asked_by: dict[str, str] = {}
    interleaved = 0
    for event in events:
        chat = (event["platform"], event["chat"])
        if event["type"] == "message.received":
            asked_by[event["message_id"]] = event["sender"]
            last_sender[chat] = event["sender"]
        elif event["type"] == "message.sent" and event["chat_type"] != "dm":
            interleaved += last_sender[chat] != asked_by[event["reply_to"]]
    assert interleaved > 50


@pytest.mark.slow
def test_memory_does_not_grow_with_n() -> None:
    # Given the shared tool-output corpus already built (a fixed cost, once per process)
    _peak_bytes(1_000)
    # When 20k and 200k events are generated
    small, large = _peak_bytes(20_000), _peak_bytes(200_000)
    # Then the peak stays small and about the same
    assert large < 20 * 2**20
    assert large < 2 * small


def test_write_jsonl_writes_one_compact_line_per_event() -> None:
    stream = io.StringIO()
    assert write_jsonl(2_500, 4, stream, chunk=1_000) == 2_500
    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == list(generate(2_500, seed=4))
    assert all(", " not in line[:40] for line in lines)
    assert any(not line.isascii() for line in lines)  # names and emoji are not \u-escaped


def test_cli_generate_writes_the_file(tmp_path: Path) -> None:
    output = tmp_path / "events.jsonl"
    assert cli(["generate", "300", "--seed", "9", "--output", str(output)]) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(generate(300, seed=9))


def test_cli_generate_writes_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["generate", "25"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 25


@pytest.mark.parametrize("n", ["0", "-3", "ten"])
def test_cli_generate_refuses_a_bad_count(n: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["generate", n])
    assert exit_info.value.code == 2
    assert "N must be" in capsys.readouterr().err
