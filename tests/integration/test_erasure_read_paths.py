"""Erasure across every read path: after `convlog erase`, the erased words are in no CLI
output, HTTP answer, search hit, export, report, simulate output, projection rebuilt
afterwards or database dump, and no re-delivery (same id, a new id, none) brings them
back. One property, one example per kind of selector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from eventlog.events import Event
from eventlog.search_index import index_pending
from eventlog.store import EventStore
from projections.registry import get
from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer
from tests.fixtures.projections import new_projection, project
from tests.integration.test_erasure import dump, pg_dump  # noqa: F401  (a fixture)
from workers.cli.main import main

SECRETS = ("quokka-7781-umbra", "Wilhelmina Zdrojewska", "passport-scan-44120")
KEPT = "ordinary words nobody erased"
REASON = "request 2026-301"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SELECTORS = {"sender": ["--sender", "discord:111"],
             "message": ["--message", "discord:1000000001:s1"],
             "chat": ["--chat", "discord:1000000001"]}


def secret_lines() -> list[dict[str, Any]]:
    """Her message (and its edit) in the chat that goes; bob's words stay, in another chat."""
    secret = f"{SECRETS[0]} is my code"
    return [
        event_dict(id="gw-s1", sender="111", sender_name=SECRETS[1], message_id="s1",
                   text=secret, meta={"file": SECRETS[2]}),
        event_dict(type="message.edited", sender="111", message_id="s1",
                   text=secret + " (edited)"),
        event_dict(type="message.sent", sender="bot", message_id="b1", reply_to="s1",
                   text="noted"),
        event_dict(chat="1000000002", sender="222", message_id="k1", text=KEPT),
    ]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    assert status in (0, 1), (argv, captured.err[-500:])
    return captured.out + captured.err


def leaks(where: str, blob: str) -> list[str]:
    return [f"{where}: {secret}" for secret in SECRETS if secret in blob]


@pytest.mark.parametrize("kind", sorted(SELECTORS))
def test_erased_words_are_on_no_read_path_and_no_redelivery_brings_them_back(
        kind: str, store: EventStore, engine: Engine, cli_env: str, database_url: str,
        api: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        pg_dump: tuple[Path, int]) -> None:  # noqa: F811
    # Given her words in the log, projected, indexed for search, counted
    lines = secret_lines()
    store.append([Event.model_validate(line) for line in lines])
    project(engine, store, "default")
    index_pending(engine)
    assert run(capsys, "search", SECRETS[0].split("-")[0], "--json").count("position") >= 1
    # When they are erased
    assert main(["erase", *SELECTORS[kind], "--reason", REASON, "--yes"]) == 0
    # and re-delivered: as they were, under a new id, and without one
    again = [lines[0], {**lines[0], "id": "gw-s1-retry"},
             {k: v for k, v in lines[0].items() if k != "id"}]
    retried = store.append([Event.model_validate(line) for line in again])
    assert (retried.appended, retried.duplicates) == (0, 3)
    # and a projection is built afterwards, and the index catches up
    new_projection(engine, "after")
    project(engine, store, "after")
    index_pending(engine)
    # Then no read path holds any of them
    found: list[str] = []
    with engine.connect() as conn:
        sessions = {name: conn.execute(text(
            "SELECT session_id::text FROM sessions WHERE projection_id = :p"),
            {"p": get(conn, name).id}).scalars().all() for name in ("default", "after")}
    found += leaks("log tail", run(capsys, "log", "tail", "-n", "100", "--json"))
    found += leaks("sessions", run(capsys, "sessions", "--json"))
    for name, ids in sessions.items():
        for session in ids:
            found += leaks(f"context {name}", run(capsys, "context", session, "--projection",
                                                  name, "--json", "--tag-senders"))
    for word in ("quokka", "Wilhelmina", "passport", "code"):
        found += leaks("search", run(capsys, "search", word, "--json"))
    for fmt in ("jsonl", "csv", "markdown", "openai"):
        out = tmp_path / f"export.{fmt}"
        run(capsys, "export", "--format", fmt, "-o", str(out))
        files = sorted(out.rglob("*")) if out.is_dir() else [out]  # markdown: one per session
        found += leaks(f"export {fmt}", " ".join(f.read_text(encoding="utf-8")
                                                 for f in files if f.is_file()))
    found += leaks("simulate", run(capsys, "simulate", "--policy",
                                   str(EXAMPLES / "guild-wide.json"), "--json"))
    report = tmp_path / "report.html"
    run(capsys, "report", "--policy", str(EXAMPLES / "guild-wide.json"), "-o", str(report))
    found += leaks("report", report.read_text(encoding="utf-8"))
    reader = api.client(api.token("reader"))
    for session in sessions["default"]:
        found += leaks("HTTP context", json.dumps(reader.request(
            "GET", f"/v1/sessions/{session}/context", params={"tag_senders": "true"})))
    found += leaks("HTTP search", json.dumps(reader.request(
        "GET", "/v1/search", params={"q": "quokka"})))
    found += leaks("HTTP sessions", json.dumps(reader.request("GET", "/v1/sessions")))
    found += leaks("pg_dump", dump(database_url, pg_dump))
    assert found == []
    # while what was not erased is still there
    assert KEPT in run(capsys, "log", "tail", "-n", "100", "--json")
