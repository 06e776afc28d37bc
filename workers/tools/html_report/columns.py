"""What each column of the report is called: what the policy does, with its file at hand.

A column is headed by the policy's `description` when it has one, else its
`name`, else the file it came from; the short handle (the comparison's label,
which the charts' legends use too) and the file stay beside it, the file in a
tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from projections.policy.examples import example_path
from projections.simulate import Comparison
from workers.tools.html_report.charts import color
from workers.tools.html_report.table import column_titles


@dataclass(frozen=True, slots=True)
class Described:
    """What is known of a compared policy beyond its numbers."""

    description: str | None = None
    policy_name: str | None = None
    file: str | None = None  # the --policy argument it was read from


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the comparison's label: unique, short, the charts' legend
    handle: str  # as the terminal table heads it ("default (now)")
    title: str  # what the policy does
    tooltip: str
    color: str
    now: bool  # the projection in use


def file_name(reference: str) -> str:
    """The file a --policy argument names (`example:NAME` is a shipped file)."""
    try:
        found = example_path(reference)
    except FileNotFoundError:
        found = None
    return (found or Path(reference)).name


def report_columns(comparison: Comparison, described: Mapping[str, Described]) -> list[Column]:
    found = []
    for n, (metrics, handle) in enumerate(zip(comparison.columns, column_titles(comparison),
                                              strict=True)):
        about = described.get(metrics.name, Described())
        now = metrics.source != "candidate"
        if about.file is not None:
            name = file_name(about.file)
            shown = about.file if about.file == name else f"--policy {about.file}"
            tooltip = f"file: {name} ({shown})" if shown != name else f"file: {name}"
        elif now:
            tooltip = f"projection {metrics.source}, in use now (no policy file)"
        else:
            tooltip = f"policy {metrics.name} (no file)"
        title = (about.description or about.policy_name
                 or (file_name(about.file) if about.file else None)
                 or (f"The policy in use now (projection {metrics.source})" if now
                     else metrics.name))
        found.append(Column(metrics.name, handle, title, tooltip, color(n), now))
    return found
