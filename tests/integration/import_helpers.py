"""Helpers of the importer tests: run `convlog import`, read what it appended, hash sources."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from eventlog.store import EventStore
from workers.cli.main import main


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    status = main(["import", *args, "--json", "--timezone", "UTC"])
    return status, json.loads(capsys.readouterr().out)


def imported(store: EventStore, gateway: str) -> list[dict[str, Any]]:
    """The appended events of one gateway, in log order, as payloads."""
    found = []
    for event in store.iter_events():
        meta = (event.payload.get("meta") or {}).get("import") or {}
        if meta.get("gateway") == gateway:
            found.append(event.payload)
    return found


def by_session(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Gateway session key -> [(type, text)] in log order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for event in events:
        key = event["meta"]["import"]["key"]
        found.setdefault(key, []).append((event["type"], event.get("text", "")))
    return found


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under root and its SHA-256: proves a run changed and added nothing."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
