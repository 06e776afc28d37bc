"""The demo's last act: what seed 002's guild would cost per channel, guild-wide and per user."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from eventlog.store import EventStore
from projections.policy import Policy
from projections.simulate import Params, Window, compare
from workers.cli.output import console, plain
from workers.cli.simulate import comparison_table, refuse_leaks
from workers.tools.html_report.files import Collector, write_atomically
from workers.tools.html_report.html import render

GUILD_SPACE = "discord:1234567890"


def show_costs(engine: Engine, store: EventStore, guild: Mapping[str, Any],
               report: Path) -> None:
    """Simulate guild-wide and per-user scopes against the active per-channel projection."""
    console.rule(f"what a scope would cost: the guild {GUILD_SPACE}, before switching")
    encoding = store.encoding
    candidates = [("guild-wide", Policy.model_validate({"name": "guild-wide", "spaces": guild,
                                                        "encoding": encoding})),
                  ("per-user", Policy.model_validate({"name": "per-user", "encoding": encoding,
                                                      "dimensions": ["chat", "sender"]}))]
    params = Params()
    collect = Collector(params.prices)
    comparison = compare(engine, store, candidates, Window(0, space=GUILD_SPACE), params,
                         on_measured=collect)
    console.print(comparison_table(
        comparison, title=f"convlog simulate --space {GUILD_SPACE} (per-channel now)"))
    write_atomically(report, render(comparison, collect.series))
    console.print(plain(f"The same comparison with charts: {report.resolve()} (one HTML "
                        "file, no network; `convlog report` writes it for your own log)."))
    refuse_leaks(comparison)
