"""`convlog demo` ends with the simulate table for seed 002's guild and writes the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.cli.main import main


def test_the_demo_ends_with_the_guild_costs_and_says_where_the_report_is(
        cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "costs.html"
    assert main(["demo", "--events", "1500", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "convlog simulate --space discord:1234567890" in out
    for column in ("per-chat (now)", "guild-wide", "per-user", "privacy leakage"):
        assert column in out
    assert str(report.resolve()) in out.replace("\n", "")
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") >= 6 and "<script" not in page
