"""Importers under attack: rows they cannot read are skipped and reported, never abort the
import; links out of the store are not followed unless asked; a partial or empty import
exits 1 with the reason."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from eventlog.store import EventStore
from tests.integration.gateway_stores import T0, hermes_store, openclaw_store
from tests.integration.import_helpers import imported, run_import
from workers.cli.main import main


def test_hermes_rows_with_impossible_times_or_blob_content_are_skipped_not_fatal(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Hermes store with hostile message rows beside good ones
    root = hermes_store(tmp_path / "hermes", current=True)
    db = sqlite3.connect(root / "state.db")
    hostile = [(1e300, "far future"), (-1e20, "far past"),
               ((T0 + 300) * 1000, "milliseconds by mistake"),
               (T0 + 301, b"utf-8 blob"), (T0 + 302, b"\xff\xfe not text")]
    for stamp, content in hostile:
        db.execute("INSERT INTO messages (session_id, role, content, timestamp) "
                   "VALUES ('s3', 'user', ?, ?)", (content, stamp))
    db.commit()
    db.close()
    # When it is imported
    status, report = run_import(capsys, "hermes", str(root))
    # Then the import finishes, exits 1 as a partial one, and says which rows and why
    assert status == 1
    problems = " ".join(p["problem"] for p in report["problems"])
    assert problems.count("is no time between 1970 and 2200") == 2
    assert "unreadable message row" in problems  # the BLOB that is not text
    # and every readable row is in the log: the good ones, the milliseconds, the text BLOB
    texts = {text for _, text in imported_texts(store)}
    assert {"[Alice] hi group", "milliseconds by mistake", "utf-8 blob", "far future"} <= texts
    assert "some timestamps were in milliseconds; read as such" in report.get("notes", [])


def imported_texts(store: EventStore) -> list[tuple[str, str]]:
    return [(str(e["type"]), str(e.get("text") or "")) for e in imported(store, "hermes")]


def test_links_and_paths_out_of_an_openclaw_store_are_refused_unless_followed(
        tmp_path: Path, store: EventStore, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given an OpenClaw store with a transcript that is a link to a file elsewhere, and a
    # session whose sessionFile is an absolute path elsewhere
    root = openclaw_store(tmp_path / "openclaw")
    folder = root / "agents" / "main" / "sessions"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "secret.jsonl"
    secret.write_text(json.dumps({"type": "message", "id": "x1", "timestamp":
                                  "2026-03-01T10:00:00Z", "message": {
                                      "role": "user", "content": "from outside the store"}})
                      + "\n", encoding="utf-8")
    (folder / "linked.jsonl").symlink_to(secret)
    index = json.loads((folder / "sessions.json").read_text(encoding="utf-8"))
    index["agent:main:elsewhere"] = {"sessionId": "far", "sessionFile": str(secret),
                                     "updatedAt": 1}
    (folder / "sessions.json").write_text(json.dumps(index), encoding="utf-8")
    # When it is imported, nothing outside is read, and each refusal is named
    status, report = run_import(capsys, "openclaw", str(root), "--dry-run")
    assert status == 1
    refused = [p for p in report["problems"] if "leads outside the store" in p["problem"]]
    assert len(refused) >= 2 and all("--follow-links" in p["problem"] for p in refused)
    # and with --follow-links the same store reads them
    _, followed = run_import(capsys, "openclaw", str(root), "--dry-run", "--follow-links")
    assert not [p for p in followed["problems"] if "leads outside" in p["problem"]]
    assert followed["messages"]["read"] > report["messages"]["read"]


@pytest.mark.parametrize("gateway", ["openclaw", "hermes", "picoclaw"])
def test_an_empty_directory_exits_1_with_the_reason(
        gateway: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    status = main(["import", gateway, str(tmp_path), "--dry-run"])
    out = capsys.readouterr()
    assert status == 1
    assert "here" in out.out + out.err or "found no" in out.err
