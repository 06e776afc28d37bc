"""PicoClaw's own key assertions, via `convlog policy convert --from picoclaw` + `resolve`.

From `pkg/session/allocator_test.go` (sipeed/picoclaw): each allocation's opaque key, its
main key and the legacy aliases it records. The opaque keys are `sk_v1_` + SHA-256 of
the scope signature named in each comment (PicoClaw `pkg/session` key and scope code);
the suite asserts they are opaque and distinct, these cases pin the exact value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from projections.gateways.picoclaw import keys as picoclaw
from projections.gateways.picoclaw.keys import opaque_key
from tests.unit.legacy_cases import KeyCase, resolved_legacy, share
from workers.cli.main import main

SRC = "picoclaw pkg/session/allocator_test.go"
SENDER = {"session": {"dimensions": ["sender"]}}
CHAT = {"session": {"dimensions": ["chat"]}}
PER_PEER_DM = {"platform": "telegram", "chat_type": "dm", "chat": "dm-123", "sender": "User123"}
FORUM = {"platform": "telegram", "chat_type": "group", "chat": "-1001234567890", "sender": "7"}
PRIVATE = {"platform": "telegram", "chat_type": "dm", "sender": "7"}

CASES = [
    # v=1|agent=main|channel=telegram|account=default|sender=user123
    KeyCase(f"{SRC} TestAllocateRouteSession_PerPeerDM (SessionKey)", SENDER, PER_PEER_DM,
            "sk_v1_ce6b402a6d2d9cb751361dabe30ec8c11eeb284304e7d4c726d3fa10aa996b7f"),
    KeyCase(f"{SRC} TestAllocateRouteSession_PerPeerDM (SessionAliases)", SENDER, PER_PEER_DM,
            "agent:main:direct:user123", legacy="picoclaw:alias"),
    # agent:main:main: the main session, which a PicoClaw DM joins under dm_scope main
    KeyCase(f"{SRC} TestAllocateRouteSession_PerPeerDM (MainSessionKey)",
            {"session": {"dimensions": ["sender"], "dm_scope": "main"}}, PER_PEER_DM,
            "sk_v1_6d9217fe77c7f11d9cc992aabe81a2d09604e9c48babbda8fdad3791f9c19f3b"),
    KeyCase(f"{SRC} TestAllocateRouteSession_PerPeerDM (MainAliases)",
            {"session": {"dimensions": ["sender"], "dm_scope": "main"}}, PER_PEER_DM,
            "agent:main:main", legacy="picoclaw:alias"),
    # v=1|agent=main|channel=slack|account=workspace-a|chat=channel:c001
    KeyCase(f"{SRC} TestAllocateRouteSession_GroupPeer (SessionKey)", CHAT,
            {"platform": "slack", "account": "workspace-a", "chat_type": "channel",
             "chat": "C001", "sender": "U001"},
            "sk_v1_c56e7b6e68705d228463a895f86cee5e1aae41a967409ac527032a3c0ea83de0"),
    KeyCase(f"{SRC} TestAllocateRouteSession_GroupPeer (SessionAliases)", CHAT,
            {"platform": "slack", "account": "workspace-a", "chat_type": "channel",
             "chat": "C001", "sender": "U001"},
            "agent:main:slack:channel:c001", legacy="picoclaw:alias"),
    # v=1|agent=main|channel=telegram|account=default|chat=group:-1001234567890/42
    KeyCase(f"{SRC} TestAllocateRouteSession_TelegramForumTopicsRemainIsolatedByDefault (42)",
            CHAT, {**FORUM, "topic": "42"},
            "sk_v1_36124e6f38d9be96ffea284f78b98fa8a2e0e2a6724c3b41986e7f3f1fd908a5"),
    # ...chat=group:-1001234567890/99
    KeyCase(f"{SRC} TestAllocateRouteSession_TelegramForumTopicsRemainIsolatedByDefault (99)",
            CHAT, {**FORUM, "topic": "99"},
            "sk_v1_5452a9991e9a564b5c4c51cf6fbcfbc757980aba90673a2404d2b2f456a43467"),
    # ...chat=direct:123456789/42/42 (the adapter's chat id already carries the topic)
    KeyCase(f"{SRC} TestAllocateRouteSession_TelegramPrivateTopicsRemainIsolatedByDefault (42)",
            CHAT, {**PRIVATE, "chat": "123456789/42", "topic": "42"},
            "sk_v1_b12bfcbffbae6baf983a3f4f07400b7f2ad59c8fc579dfcd931d33edc546f6f3"),
    KeyCase(f"{SRC} TestAllocateRouteSession_TelegramPrivateTopicsRemainIsolatedByDefault (99)",
            CHAT, {**PRIVATE, "chat": "123456789/99", "topic": "99"},
            "sk_v1_5c86cdce93f320b71e2bbfa783c99ad336c98ae9e822e8f8aa55a1eea1bfe0d7"),
    KeyCase(f"{SRC} TestAllocateRouteSession_PicoDirectAliasesIncludeLegacyChatKey", SENDER,
            {"platform": "pico", "chat_type": "dm", "chat": "pico:session-123",
             "sender": "pico-user"},
            "agent:main:pico:direct:pico:session-123", legacy="picoclaw:alias:chat"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_picoclaw_key_assertion(case: KeyCase, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    # Given PicoClaw's config converted by `convlog policy convert --from picoclaw`
    # When the address of the case is resolved with `convlog resolve`
    found = resolved_legacy("picoclaw", case, tmp_path, capsys)
    # Then the key (or alias) is the one PicoClaw allocates for it
    assert found == case.expected


def test_share_of_picoclaw_assertions_that_hold(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    results = []
    for index, case in enumerate(CASES):
        (tmp_path / str(index)).mkdir()
        results.append(resolved_legacy("picoclaw", case, tmp_path / str(index), capsys)
                       == case.expected)
    measured = share(results)
    print(f"picoclaw: {sum(results)}/{len(results)} = {measured:.0%}")
    assert measured >= 0.8


def test_the_opaque_key_is_the_hash_of_the_lower_cased_signature() -> None:
    # pkg/session TestBuildOpaqueSessionKey_IsStable, and the signature's case folding
    scope = picoclaw.Scope("Main", "Telegram", "default", ("sender",), {"sender": "User123"})
    signature = "v=1|agent=main|channel=telegram|account=default|sender=user123"
    assert scope.signature() == signature
    assert scope.key() == "sk_v1_" + hashlib.sha256(signature.encode()).hexdigest()
    assert picoclaw.opaque_key("agent:main:main") == picoclaw.opaque_key(" AGENT:MAIN:MAIN ")


def test_direct_aliases_are_the_three_forms_per_peer() -> None:
    # pkg/session key code BuildLegacyDirectAliases, with the main alias first
    assert picoclaw.aliases_for_direct("main", "telegram", "", ["User123"]) == [
        "agent:main:main", "agent:main:direct:user123", "agent:main:telegram:direct:user123",
        "agent:main:telegram:default:direct:user123"]


def test_resolve_json_shows_the_scope_a_picoclaw_key_is_the_hash_of(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given PicoClaw's default dimensions (chat) as a policy, and a forum topic message
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"dimensions": ["chat"]}), encoding="utf-8")
    event = {"type": "message.received", "agent": "main", "platform": "telegram",
             "chat_type": "group", "chat": "-1001234567890", "topic": "42", "sender": "7"}
    # When it is resolved with --json
    capsys.readouterr()
    assert main(["resolve", json.dumps(event), "--policy", str(policy), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    # Then beside the opaque key is the scope it is the hash of, as PicoClaw writes it
    scope = answer["picoclaw_scope"]
    assert (scope["version"], scope["dimensions"], scope["values"]) == (
        1, ["chat"], {"chat": "group:-1001234567890/42"})
    assert opaque_key(scope["signature"]) == answer["legacy"]["picoclaw"]
    # And a DM under dmScope main shows the alias its key hashes instead
    policy.write_text(json.dumps({"dm_scope": "main"}), encoding="utf-8")
    dm = {**event, "chat_type": "dm", "chat": "7", "topic": None}
    assert main(["resolve", json.dumps({k: v for k, v in dm.items() if v is not None}),
                 "--policy", str(policy), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["picoclaw_scope"] == {"alias": "agent:main:main"}


def test_resolve_key_json_shows_the_scope_of_a_key_rendered_in_this_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a policy and an opaque key no import recorded and nothing rendered yet
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"dimensions": ["chat"]}), encoding="utf-8")
    stranger = opaque_key("v=1|agent=main|channel=nowhere|account=default|chat=group:x")
    capsys.readouterr()
    assert main(["resolve", "--key", stranger, "--policy", str(policy), "--json"]) == 0
    # Then it is read as opaque, its scope unknown (a hash cannot be reversed)
    reading = json.loads(capsys.readouterr().out)["readings"][0]
    assert reading["parsed"]["opaque"] and reading["scope"] is None
