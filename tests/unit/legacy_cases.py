"""Shared helpers for the gateways' key assertions: convert a config, resolve, read a legacy key.

Every case goes the way a user goes: the gateway's own config through
`convlog policy convert --from GATEWAY`, then the event through `convlog resolve --json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from workers.cli.main import main

BASE_EVENT = {"type": "message.received", "agent": "main", "message_id": "m1", "text": "hi",
              "occurred_at": "2026-03-01T12:00:00Z"}


@dataclass(frozen=True)
class KeyCase:
    """One key assertion of a gateway's test suite: config + address -> expected key."""

    source: str  # the test file and test it comes from
    config: dict[str, Any]
    event: dict[str, Any]
    expected: str
    legacy: str = ""  # which legacy key to read (default: the gateway's own)
    maps: bool = True  # False: convlog cannot express it (the reason is in `why`)
    why: str = ""
    files: dict[str, str] = field(default_factory=dict)  # written beside the config

    @property
    def name(self) -> str:
        return self.source.rsplit(" ", 1)[-1] + ":" + self.expected


def convert(gateway: str, config: dict[str, Any], tmp_path: Path,
            capsys: pytest.CaptureFixture[str], files: dict[str, str] | None = None) -> Path:
    """`convlog policy convert --from GATEWAY` on a config file; the policy file it printed."""
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    suffix = ".json5" if gateway == "openclaw" else ".yaml"
    config_file = tmp_path / f"config{suffix}"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    capsys.readouterr()
    assert main(["policy", "convert", "--from", gateway, str(config_file)]) == 0
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(capsys.readouterr().out, encoding="utf-8")
    return policy_file


def resolved_legacy(gateway: str, case: KeyCase, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> str | None:
    """The legacy key `convlog resolve --json` shows for the case's event."""
    policy_file = convert(gateway, case.config, tmp_path, capsys, case.files)
    event = {**BASE_EVENT, **case.event}
    if event["type"] == "message.sent":
        event.setdefault("reply_to", "m0")
        event.pop("sender", None)
    assert main(["resolve", json.dumps(event), "--policy", str(policy_file), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    found: str | None = answer["legacy"].get(case.legacy or gateway)
    return found


def share(results: list[bool]) -> float:
    return sum(results) / len(results)
