"""`convlog sessions`: the same paged, filtered list the HTTP API serves, with cursors."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import Engine

from eventlog.store import EventStore
from projections.registry import get
from projections.sessions import SessionFilter, list_sessions
from tests.fixtures.builders import make_event
from tests.fixtures.projections import project
from workers.cli.main import main


def page(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict[str, object]],
                                                                   str | None]:
    capsys.readouterr()
    assert main(["sessions", "--json", *args]) == 0
    out = capsys.readouterr()
    found = re.search(r"--cursor (\S+)", out.err)
    return json.loads(out.out), found.group(1) if found else None


def test_the_cli_pages_and_filters_as_the_read_model_does(
        store: EventStore, engine: Engine, cli_env: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Given seven chats, two agents, and one sender who wrote in three of them
    store.append([make_event(agent="main" if n < 5 else "support", chat=f"c{n}",
                             sender="7" if n in (1, 3, 6) else f"u{n}", message_id=f"m{n}")
                  for n in range(7)])
    project(engine, store, "default")
    # When the CLI pages through them three at a time
    seen: list[dict[str, object]] = []
    rows, cursor = page(capsys, "--limit", "3")
    seen += rows
    while cursor is not None:
        rows, cursor = page(capsys, "--limit", "3", "--cursor", cursor)
        seen += rows
    # Then every session comes once, in the order the read model gives
    with engine.connect() as conn:
        everything = list_sessions(conn, get(conn).id, SessionFilter(), limit=100).sessions
    assert [row["session_id"] for row in seen] == [str(s.session_id) for s in everything]
    assert len(seen) == 7 and {"agent", "chats", "first_position"} <= set(seen[0])
    # and the filters narrow it as the API's do
    assert {row["agent"] for row in page(capsys, "--agent", "support")[0]} == {"support"}
    assert len(page(capsys, "--participant", "7")[0]) == 3
    keyed = page(capsys, "--key-prefix", everything[0].key)[0]
    assert [row["key"] for row in keyed] == [everything[0].key]
    # and a cursor it never handed out is refused with the API's code
    capsys.readouterr()
    assert main(["sessions", "--cursor", "not-a-cursor"]) == 2
    assert "[INVALID_CURSOR]" in capsys.readouterr().err
