"""Properties of the resolver that must hold under every policy (hypothesis)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eventlog.encoding_names import DEFAULT_ENCODING
from eventlog.events import Event
from projections.policy import DIMENSIONS, DM_SCOPES, Policy, load_policy
from projections.resolver import (
    SESSION_NAMESPACE,
    CompiledPolicy,
    compile_policy,
    format_key,
    parse_key,
    resolve,
    session_id_for,
)
from tests.fixtures.profiles import examples

# Few, hostile ids, so that events often share parts of their address.
IDS = ["1", "2", "a:b", "a/b", "x y", "%41", "é", "a=b"]
SAMPLES = settings(max_examples=examples(400), deadline=None)


def make_event(kind: str, agent: str, platform: str, account: str, space: str | None,
               chat: str, chat_type: str, topic: str | None, sender: str | None) -> Event:
    data: dict[str, Any] = {"type": kind, "agent": agent, "platform": platform,
                            "account": account, "chat": chat, "chat_type": chat_type,
                            "occurred_at": "2026-03-01T12:00:00Z", "space": space,
                            "topic": topic, "sender": sender}
    if kind == "message.received":
        data.update(sender=sender or "u", message_id="m", text="hi")
    elif kind == "message.sent":
        data.update(message_id="r", reply_to="m", text="hello")
    elif kind == "message.edited":
        data.update(message_id="m", text="hi!")
    return Event.model_validate(data)


def events(agents: list[str] | None = None) -> st.SearchStrategy[Event]:
    return st.builds(
        make_event,
        kind=st.sampled_from(["message.received", "message.sent", "message.edited",
                              "session.reset"]),
        agent=st.sampled_from(agents or ["main"]),
        platform=st.sampled_from(["discord", "telegram"]),
        account=st.sampled_from(["default", "bot-2"]),
        space=st.none() | st.sampled_from(["S1", "S2"]),
        chat=st.sampled_from(IDS),
        chat_type=st.sampled_from(["dm", "group", "channel"]),
        topic=st.none() | st.sampled_from(IDS),
        sender=st.none() | st.sampled_from(IDS),
    )


def ordered_dimensions() -> st.SearchStrategy[list[str]]:
    return st.permutations(list(DIMENSIONS)).flatmap(
        lambda order: st.integers(0, len(order)).map(lambda n: list(order[:n])))


@st.composite
def policy_documents(draw: st.DrawFn, zone: str | None = None) -> dict[str, Any]:
    """A valid policy using every feature; `zone` (when given) is a privacy zone of discord:S1."""
    groupable = [chat for chat in IDS if chat != zone]
    membership = draw(st.dictionaries(st.sampled_from(groupable), st.sampled_from(["g1", "g2"]),
                                      max_size=4))
    groups: dict[str, list[str]] = {}
    for chat, group in membership.items():
        groups.setdefault(group, []).append(f"discord:{chat}")
    overrides = draw(st.dictionaries(st.sampled_from(IDS), st.sampled_from(["channel", "guild"]),
                                     max_size=3))
    space = {"session_scope": draw(st.sampled_from(["channel", "guild"])),
             "channels": {chat: {"session_scope": scope} for chat, scope in overrides.items()},
             "privacy_zones": [zone] if zone is not None else []}
    document: dict[str, Any] = {
        "dimensions": draw(ordered_dimensions()),
        "dm_scope": draw(st.sampled_from(DM_SCOPES)),
        "channel_groups": groups,
        "spaces": {"discord:S1": space},
        "threads": {"isolate": draw(st.booleans())},
    }
    if draw(st.booleans()):
        document["identity_links"] = {"john": ["discord:1", "telegram:2"], "ann": ["a:b"]}
    if draw(st.booleans()):
        document["rules"] = [{"name": "r", "when": {"platform": "telegram", "chat": "1"},
                              "dimensions": draw(ordered_dimensions())}]
    return document


@SAMPLES
@given(document=policy_documents(), extra=st.sampled_from(DIMENSIONS),
       position=st.integers(0, 4), first=events(), second=events())
def test_adding_a_dimension_never_merges_separate_sessions(
        document: dict[str, Any], extra: str, position: int, first: Event, second: Event) -> None:
    assume(extra not in document["dimensions"])
    coarse = load_policy(document)
    finer_dimensions = list(document["dimensions"])
    finer_dimensions.insert(position, extra)
    finer = load_policy({**document, "dimensions": finer_dimensions})
    if resolve(first, coarse).key != resolve(second, coarse).key:
        assert resolve(first, finer).key != resolve(second, finer).key


@SAMPLES
@given(data=st.data(), zone=st.sampled_from(IDS), inside=events(), outside=events())
def test_a_privacy_zone_never_shares_with_another_chat(
        data: st.DataObject, zone: str, inside: Event, outside: Event) -> None:
    policy = load_policy(data.draw(policy_documents(zone=zone)))
    in_zone = inside.model_copy(update={"platform": "discord", "chat": zone})
    assume((outside.platform, outside.chat) != ("discord", zone))
    assert resolve(in_zone, policy).key != resolve(outside, policy).key


@SAMPLES
@given(document=policy_documents(), first=events(["main", "helper"]),
       second=events(["main", "helper"]))
def test_agents_platforms_and_accounts_never_share_except_opted_in_dms(
        document: dict[str, Any], first: Event, second: Event) -> None:
    policy = load_policy(document)
    assume((first.agent, first.platform, first.account)
           != (second.agent, second.platform, second.account))
    if resolve(first, policy).key == resolve(second, policy).key:
        assert first.agent == second.agent
        assert first.chat_type == second.chat_type == "dm"
        assert policy.dm_scope in ("main", "per-peer")


@SAMPLES
@given(document=policy_documents(), event=events(), epoch=st.integers(0, 10**6))
def test_same_input_gives_the_same_key_and_id(document: dict[str, Any], event: Event,
                                             epoch: int) -> None:
    policy = load_policy(document)
    again = CompiledPolicy(Policy.model_validate(policy.model_dump(mode="json")))
    first = resolve(event, policy, epoch=epoch)
    second = resolve(event, again, epoch=epoch)
    assert first == second
    assert first.session_id == session_id_for(policy, first.key, epoch)
    assert session_id_for(policy, first.key, epoch + 1) != first.session_id


ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)
PARTS = st.lists(st.tuples(st.sampled_from(["agent", "chat", "sender", "topic"]), ANY_TEXT),
                 max_size=5)


@SAMPLES
@given(parts=PARTS)
def test_keys_parse_back_to_their_parts(parts: list[tuple[str, str]]) -> None:
    assert list(parse_key(format_key(parts))) == parts if parts else True


@SAMPLES
@given(first=PARTS, second=PARTS)
def test_distinct_parts_never_give_the_same_key(first: list[tuple[str, str]],
                                                second: list[tuple[str, str]]) -> None:
    if first != second:
        assert format_key(first) != format_key(second)


@SAMPLES
@given(one=ANY_TEXT.filter(bool), other=ANY_TEXT.filter(bool), event=events())
def test_hostile_chat_and_sender_ids_never_collide(one: str, other: str, event: Event) -> None:
    assume(one != other)
    per_user = load_policy({"dimensions": ["chat", "sender"], "dm_scope": "per-channel-peer"})
    message = event.model_copy(update={"type": "message.received", "topic": None,
                                       "sender": "u", "chat_type": "group"})
    chats = {resolve(message.model_copy(update={"chat": chat}), per_user).key
             for chat in (one, other)}
    senders = {resolve(message.model_copy(update={"sender": sender}), per_user).key
               for sender in (one, other)}
    assert len(chats) == 2 and len(senders) == 2


@SAMPLES
@given(key=st.text(max_size=40), epoch=st.integers(0, 10**9))
def test_session_ids_are_uuid5_of_fingerprint_epoch_and_key(key: str, epoch: int) -> None:
    policy = load_policy({})
    name = f"{policy.grouping_fingerprint()}/{epoch}/{key}"
    assert session_id_for(policy, key, epoch) == uuid.uuid5(SESSION_NAMESPACE, name)


@SAMPLES
@given(first=st.tuples(ANY_TEXT, st.integers(0, 5)), second=st.tuples(ANY_TEXT, st.integers(0, 5)))
def test_distinct_keys_or_epochs_give_distinct_ids(first: tuple[str, int],
                                                   second: tuple[str, int]) -> None:
    policy = load_policy({})
    if first != second:
        assert session_id_for(policy, *first) != session_id_for(policy, *second)


def test_a_compiled_policy_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment setting that a fold must not see
    monkeypatch.setenv("CONVLOG_ENCODING", "o200k_base")
    # Then a policy that names no encoding compiles in the default, one that names one in it
    assert compile_policy(Policy()).encoding == DEFAULT_ENCODING == "cl100k_base"
    named = Policy.model_validate({"encoding": "o200k_base"})
    assert compile_policy(named).encoding == "o200k_base"
    # and filling in a deployment's encoding keeps the grouping
    assert Policy().with_encoding("o200k_base").grouping_fingerprint() == \
        Policy().grouping_fingerprint()
