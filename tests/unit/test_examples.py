"""Every shipped example policy is valid, resolves events, and works through the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from eventlog.events import Event
from projections.policy import check_policy, errors_of, load_policy
from projections.resolver import resolve
from workers.cli.main import main

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
SAMPLE_ADDRESSES: list[dict[str, Any]] = [
    {"platform": "discord", "space": "1234567890", "chat": "1000000001", "chat_type": "channel"},
    {"platform": "discord", "space": "1234567890", "chat": "1000000002", "chat_type": "channel",
     "topic": "2000000001"},
    {"platform": "telegram", "chat": "-1001234567890", "chat_type": "group", "topic": "652"},
    {"platform": "slack", "space": "T01", "chat": "D01", "chat_type": "dm"},
]
GROUP_MESSAGE = {"agent": "main", "platform": "discord", "space": "1234567890",
                 "chat": "1000000001", "chat_type": "channel", "sender": "1111111111"}


def sample_event(address: dict[str, Any]) -> Event:
    return Event.model_validate({"type": "message.received", "agent": "main", "sender": "u123",
                                 "message_id": "m1", "text": "hello",
                                 "occurred_at": "2026-03-01T12:00:00Z", **address})


def test_there_is_one_example_per_seed_recipe() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"per-chat", "per-user-in-groups", "thread-isolation", "guild-wide",
            "picoclaw-chat-sender", "picoclaw-space", "picoclaw-space-sender",
            "picoclaw-chat-topic", "picoclaw-support-rule", "picoclaw-identity-links",
            "channel-group", "dm-main"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_has_no_errors_and_names_itself(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert errors_of(check_policy(data)) == []
    assert data["name"] == path.stem


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_resolves_sample_events(path: Path) -> None:
    policy = load_policy(path)
    for address in SAMPLE_ADDRESSES:
        resolution = resolve(sample_event(address), policy)
        assert resolution.key.startswith("agent=main/")
        assert resolution.reasons
        assert resolution.session_id.version == 5


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_works_with_the_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(path)]) == 0
    assert main(["resolve", json.dumps(GROUP_MESSAGE), "--policy", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ok (" in out and "key         agent=main/" in out and "why" in out


def test_readme_lists_every_example() -> None:
    readme = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    missing = [path.name for path in EXAMPLES if f"`{path.name}`" not in readme]
    assert missing == []


def test_resolve_explains_the_guild_override_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    logs = {**GROUP_MESSAGE, "chat": "1000000003"}
    assert main(["resolve", json.dumps(logs), "--policy",
                 str(EXAMPLES_DIR / "guild-wide.json"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["policy"] == "guild-wide"
    assert answer["legacy"]["openclaw"] == "agent:main:discord:channel:1000000003"
    assert any("overrides space" in reason for reason in answer["reasons"])


def test_resolve_reads_a_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    policy = str(EXAMPLES_DIR / "channel-group.json")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({**GROUP_MESSAGE, "chat": "123456789"}), encoding="utf-8")
    assert main(["resolve", str(event_file), "--policy", policy, "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    stdin = io.StringIO(json.dumps({**GROUP_MESSAGE, "chat": "555555555"}))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["resolve", "-", "--policy", policy, "--json"]) == 0
    from_stdin = json.loads(capsys.readouterr().out)
    assert from_file["key"] == from_stdin["key"]
    assert from_file["key"].endswith("/group=studio-unified")


@pytest.mark.parametrize("event_arg", ['{"agent": "main"}', "{broken", "no-such-file.json"])
def test_resolve_refuses_bad_events_with_a_code(event_arg: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", event_arg, "--policy", str(EXAMPLES_DIR / "per-chat.json")]) == 2
    assert "[INVALID_EVENT]" in capsys.readouterr().err


def test_resolve_refuses_an_invalid_policy(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"dimensions": ["guild"]}', encoding="utf-8")
    assert main(["resolve", json.dumps(GROUP_MESSAGE), "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "[INVALID_POLICY]" in err and "UNKNOWN_DIMENSION" in err


def test_policy_and_projection_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["resolve", "{}", "--policy", "p.json", "--projection", "x"])
    assert "not allowed with" in capsys.readouterr().err
