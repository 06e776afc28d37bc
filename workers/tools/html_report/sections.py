"""The report's two answers as HTML: the summary on top, and the table that backs it.

Every policy is named by its handle with its chart colour; the table's columns
are headed by what each policy does, the file in a tooltip. Each row says which
way is better and marks the best value; its definition sits under its label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from projections.simulate import Comparison
from workers.tools.html_report.columns import Column
from workers.tools.html_report.summary import headline, same_numbers, verdicts
from workers.tools.html_report.table import Line, comparison_lines

BETTER = {"lower": "lower is better", "higher": "higher is better", "neither": "—"}


def swatch(column: Column) -> str:
    return (f'<span class="policy" title="{escape(column.title)}">'
            f'<span class="swatch" style="background:{column.color}"></span>'
            f"{escape(column.handle)}</span>")


def _mark(n: int) -> str:
    """A policy's place in a sentence, until the sentence is HTML (see `_named`)."""
    return f"\0{n}\0"


def _named(text: str, columns: Sequence[Column]) -> str:
    """`text` escaped, each marked policy drawn as its handle with its colour."""
    found = escape(text)
    for n, column in enumerate(columns):
        found = found.replace(_mark(n), swatch(column))
    return found


def summary(comparison: Comparison, columns: Sequence[Column]) -> str:
    """Which policy wins on each criterion, with the trade-off in a sentence."""
    names = [_mark(n) for n in range(len(columns))]
    found = verdicts(comparison, names)
    rows = []
    for verdict in found:
        criterion = verdict.criterion
        if verdict.decided:
            winner = " ".join(swatch(columns[i]) for i in verdict.winners)
            if len(verdict.winners) > 1:
                winner = f'<span class="tie">tie:</span> {winner}'
        else:
            measured = sum(v is not None for v in verdict.values)
            winner = '<span class="none">{}</span>'.format(
                "not measured" if not measured else "nothing to compare" if measured == 1
                else "no difference")
        winners = json.dumps([columns[i].name for i in verdict.winners])
        rows.append(
            f'<tr data-criterion="{criterion.key}" data-winners="{escape(winners)}" '
            f'data-best="{escape(verdict.best)}" data-metric="{escape(criterion.metric)}">'
            f"<th>{escape(criterion.title)}<small>{escape(criterion.means)}; lower is "
            f"better</small></th><td class=\"winner\">{winner}</td>"
            f'<td class="why">{_named(verdict.sentence, columns)}</td></tr>')
    notes = "".join(f'<p class="note">{_named(n, columns)}</p>'
                    for n in same_numbers(comparison, names))
    return ('<section id="summary"><h2>Which policy, and why</h2>'
            f'<p class="verdict">{_named(headline(found, names), columns)}'
            '</p><table class="summary"><thead><tr><th>criterion</th><th>best</th>'
            "<th>the trade-off</th></tr></thead><tbody>" + "".join(rows)
            + f"</tbody></table>{notes}</section>")


def _cell(line: Line, n: int) -> str:
    value = escape(line.values[n])
    if n in line.best:
        return f'<td class="best" title="the best in this row">{value}</td>'
    return f"<td>{value}</td>"


def comparison_table(comparison: Comparison, columns: Sequence[Column]) -> str:
    head = "".join(
        f'<th class="policy-col" title="{escape(c.tooltip)}" data-policy="{escape(c.name)}">'
        f'<span class="desc">{escape(c.title)}</span>{swatch(c)}</th>' for c in columns)
    rows = []
    for line in comparison_lines(comparison):
        label = line.label.strip()
        classes = ["sub"] if line.label.startswith("  ") else []
        if label.startswith("privacy") and any(v not in ("0", "-") for v in line.values):
            classes.append("bad")
        if label == "by chat kind":
            classes.append("wrap")
        better = BETTER[line.better]
        if line.better != "neither" and line.all_equal and len(columns) > 1:
            better += '<small>all equal</small>'
        attributes = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(f'<tr{attributes} data-metric="{escape(label)}" data-better="{line.better}">'
                    f'<th scope="row">{escape(label)}<small>{escape(line.means)}</small></th>'
                    f'<td class="better">{better}</td>'
                    + "".join(_cell(line, n) for n in range(len(columns))) + "</tr>")
    return ('<table class="compare"><thead><tr><th class="metric">per policy</th>'
            f'<th class="better">better</th>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>"
            '<p class="key">The best value of each row is <span class="best">marked</span> '
            "(ties all are; none when every policy shows the same). “—”: neither way is "
            "better.</p>")
