"""The shipped sample: valid, and it tells the stories the seed documents tell."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from eventlog.events import Event, parse_line
from workers.tools.workload import sample_path, sample_text

GUILD, GENERAL, REQUESTS, LOGS = "1234567890", "1000000001", "1000000002", "1000000003"
FORUM = "-1001234567890"


@pytest.fixture(scope="module")
def parsed() -> list[Event]:
    lines = sample_text().splitlines()
    events = [parse_line(line, line=number) for number, line in enumerate(lines, start=1)]
    assert all(isinstance(event, Event) for event in events), [
        event for event in events if not isinstance(event, Event)]
    return [event for event in events if isinstance(event, Event)]


@pytest.fixture(scope="module")
def raw() -> list[dict[str, Any]]:
    return [json.loads(line) for line in sample_text().splitlines()]


def _said(events: list[Event], text: str) -> Event:
    return next(event for event in events
                if event.type == "message.received" and event.text == text)


def test_sample_path_is_the_shipped_file() -> None:
    path = sample_path()
    assert path.name == "sample.jsonl" and path.is_file()
    assert path.read_text(encoding="utf-8") == sample_text()


def test_every_line_is_a_valid_event_with_its_own_id(parsed: list[Event]) -> None:
    assert 80 <= len(parsed) <= 150
    assert len({event.event_id for event in parsed}) == len(parsed)
    assert all(event.id is None for event in parsed)


def test_lines_are_in_time_order(parsed: list[Event]) -> None:
    assert all(a.occurred_at <= b.occurred_at for a, b in pairwise(parsed))


def test_tells_the_ci_pipeline_story_across_two_channels(parsed: list[Event]) -> None:
    # Seed 002: asked in #general, answered, then asked about again in #requests.
    asked = _said(parsed, "Hey, can you help me set up the CI pipeline?")
    later = _said(parsed, "What's the status of my CI pipeline setup?")
    assert (asked.space, asked.chat, later.space, later.chat) == (GUILD, GENERAL, GUILD, REQUESTS)
    assert asked.sender == later.sender
    assert asked.occurred_at < later.occurred_at
    answers = [event for event in parsed
               if event.type == "message.sent" and event.reply_to == asked.message_id]
    assert answers and answers[0].chat == GENERAL
    assert "CI pipeline" in (answers[0].text or "")


def test_has_the_guild_channels_and_a_thread(parsed: list[Event]) -> None:
    guild_chats = {event.chat for event in parsed if event.space == GUILD}
    assert {GENERAL, REQUESTS, LOGS} <= guild_chats
    created = [event for event in parsed if event.type == "thread.created"]
    assert created
    thread = created[0]
    message_ids = {event.message_id for event in parsed if event.chat == thread.chat}
    assert thread.parent_message_id in message_ids
    assert sum(event.topic == thread.topic for event in parsed) >= 4


def test_has_the_forum_topics_of_seed_001(parsed: list[Event]) -> None:
    topics = {event.topic for event in parsed if event.chat == FORUM}
    assert {"652", "29", None} <= topics
    assert {event.agent for event in parsed if event.chat == FORUM} == {"main", "support"}


def test_has_dms_on_discord_and_telegram(parsed: list[Event]) -> None:
    assert {"discord", "telegram"} <= {event.platform for event in parsed
                                       if event.chat_type == "dm"}


def test_several_users_talk_at_once_in_general(parsed: list[Event]) -> None:
    first = next(event for event in parsed if event.chat == GENERAL)
    minute = [event for event in parsed if event.chat == GENERAL and event.topic is None
              and event.type == "message.received"
              and event.occurred_at - first.occurred_at < timedelta(minutes=1)]
    assert len({event.sender for event in minute}) >= 4
    assert all(event.sender_name for event in minute)


def test_has_agent_replies_and_a_long_tool_output(parsed: list[Event]) -> None:
    assert sum(event.type == "message.sent" for event in parsed) >= 20
    tool_outputs = [len(event.text or "") for event in parsed if event.type == "tool.used"]
    assert max(tool_outputs) > 8_000


def test_references_point_back_in_the_same_chat(raw: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for event in raw:
        chat = (event["platform"], event["chat"])
        for field in ("reply_to", "parent_message_id"):
            if field in event:
                assert (*chat, event[field]) in seen, event
        if event["type"] in ("message.edited", "message.deleted"):
            assert (*chat, event["message_id"]) in seen, event
        if "message_id" in event:
            seen.add((*chat, event["message_id"]))


def test_has_an_edit_a_delete_and_resets(parsed: list[Event]) -> None:
    types = {event.type for event in parsed}
    assert {"message.edited", "message.deleted", "session.reset"} <= types
    assert any(event.text == "/new" for event in parsed)
