"""`convlog simulate`: side by side, over the same events, leaving no projection behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from eventlog.ingest import ingest_lines
from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.policy import Policy
from projections.registry import create, list_projections
from projections.simulate import RESERVED_PREFIX, Comparison, Params, Window, compare
from projections.simulate.candidates import _lock_key
from tests.fixtures.projections import project
from workers.cli.main import main
from workers.cli.simulate import refuse_leaks
from workers.tools.workload import generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def log(engine: Engine, store: EventStore, cli_env: str) -> None:
    ingest_lines(store, (json.dumps(e).encode() for e in generate(2_000, seed=11)))
    project(engine, store, "default")


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["simulate", "--json", *args]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [p.name for p in list_projections(conn)]


def test_policies_side_by_side_and_no_temporary_projection_left(
        log: None, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = tmp_path / "same.json"
    same.write_text(json.dumps({"name": "same-as-default"}))
    result = simulate(capsys, "--policy", str(EXAMPLES / "guild-wide.json"),
                      "--policy", str(EXAMPLES / "per-user-in-groups.json"),
                      "--policy", str(same))
    columns = {c["name"]: c for c in result["policies"]}  # type: ignore[attr-defined]
    assert list(columns) == ["default", "guild-wide", "per-user-in-groups", "same-as-default"]
    # The same policy as the active one measures exactly like it and orphans nothing.
    default, same_column = dict(columns["default"]), dict(columns["same-as-default"])
    for column in (default, same_column):
        column.pop("name")
        column.pop("source")
    assert same_column == default and default["orphaned_sessions"] == 0
    per_user = columns["per-user-in-groups"]
    assert per_user["cross_user_tokens"] == 0 and per_user["interrupts"] == 0
    assert per_user["orphaned_sessions"] > 0
    assert columns["guild-wide"]["multi_chat_sessions"] > 0
    assert all(c["privacy_leak_tokens"] == 0 for c in columns.values())
    assert all(c["turns"] == default["turns"] > 0 for c in columns.values())
    assert names(engine) == ["default"]


def test_a_window_and_prices_change_the_numbers_as_they_should(
        log: None, capsys: pytest.CaptureFixture[str]) -> None:
    whole = simulate(capsys, "--against", "active")["policies"][0]  # type: ignore[index]
    free_reads = simulate(capsys, "--price-read", "0", "--price-write", "1")
    priced = free_reads["policies"][0]  # type: ignore[index]
    assert priced["cost"] == pytest.approx(priced["cache_write_tokens"] / 1e6)
    later = simulate(capsys, "--since", "2099-01-01")["policies"][0]  # type: ignore[index]
    assert later["turns"] == 0 and later["sessions"] == 0 and whole["turns"] > 0


def test_a_killed_run_leaves_nothing_a_later_run_does_not_clean(
        log: None, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    with engine.begin() as conn:
        left = create(conn, RESERVED_PREFIX + "killed", Policy())
        live = create(conn, RESERVED_PREFIX + "running", Policy())
    with engine.connect() as holder:  # a run in progress holds its candidate's lock
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(live.name)})
        simulate(capsys, "--policy", str(EXAMPLES / "per-chat.json"))
        assert sorted(names(engine)) == sorted(["default", live.name])
        assert left.name not in names(engine)


@pytest.mark.parametrize(("args", "code"), [
    (["--policy", "no/such/file.json"], "POLICY_NOT_FOUND"),
    (["--since", "2026-02-01", "--until", "2026-01-01"], "INVALID_WINDOW"),
    (["--against", "nope"], "UNKNOWN_PROJECTION"),
    (["--against", "none"], "NOTHING_TO_SIMULATE"),
])
def test_bad_input_is_one_line_and_exit_2(log: None, args: list[str], code: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err
    assert f"[{code}]" in err and len(err.strip().splitlines()) == 1


def test_privacy_leakage_is_refused_as_a_bug(log: None, engine: Engine,
                                             store: EventStore) -> None:
    comparison = compare(engine, store, [], Window(0), Params())
    assert not comparison.leaking
    leaking = Comparison(comparison.window, comparison.params, tuple(
        replace(c, privacy_leak_tokens=5) for c in comparison.columns), comparison.baseline)
    with pytest.raises(ProjectionError) as caught:
        refuse_leaks(leaking)
    assert caught.value.code == "PRIVACY_LEAK"
