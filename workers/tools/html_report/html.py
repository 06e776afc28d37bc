"""The report as one self-contained HTML file: no script, no font, no request of any kind.

Everything is inline: the style sheet, the table, the charts as <svg> elements.
It reads the same with JavaScript off, and prints (each chart stays on one page).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from projections.simulate import Comparison
from projections.simulate.model import TOP_SESSIONS
from projections.simulate.series import Series, SessionCost
from workers.tools.html_report import charts
from workers.tools.html_report.table import column_titles, comparison_rows, describe_window

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d1d1f; max-width: 760px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
p.lead { color: #555; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.5em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #999; }
tr.sub td:first-child { padding-left: 1.5em; color: #555; }
td.bad { color: #b00020; font-weight: bold; }
table.crossings td:nth-child(-n+2), table.crossings th:nth-child(-n+2) { text-align: left; }
figure.chart { margin: 1.5em 0; break-inside: avoid; page-break-inside: avoid; }
figure.chart svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; }
dl dt { font-weight: bold; margin-top: 0.6em; }
dl dd { margin-left: 1em; color: #333; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
@media print { body { max-width: none; margin: 0; font-size: 11pt; }
               h2 { break-after: avoid; } }
"""

DEFINITIONS = (
    ("turn", "an inbound message (message.received) in the window; the agent is sent the "
             "session's context for it."),
    ("context", "the newest summary recorded for the session before the turn (when it fits "
                "the budget), then the newest messages after it that fit the rest of the "
                "budget, up to the turn itself; tokens as first written."),
    ("rehydration", "the sum of the turns' context tokens: what a scope costs. A turn reads "
                    "the previous turn's context from the prompt cache when its context starts "
                    "at the same message after the same summary and the cache has not expired; "
                    "the rest is a cache write."),
    ("cross-user share", "of the context tokens, those written in turns asked by someone "
                         "other than the asker (their messages and the agent's replies and "
                         "tool calls for them)."),
    ("interrupt exposure", "turns that arrive while an earlier message from a different "
                           "sender in the same session is still unanswered (no agent reply "
                           "in between), in the order of the log's own times."),
    ("privacy leakage", "context tokens from another chat when either chat is a privacy "
                        "zone: 0 for every valid policy."),
    ("orphaned sessions", "sessions of the projection in use whose events land in more "
                          "than one session under the candidate: the history a key-based "
                          "gateway would lose on the switch."),
)


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    caption: str
    svg: str


def render(comparison: Comparison, series: Sequence[Series], *,
           generated_at: datetime | None = None) -> str:
    """The whole page; `series` in the comparison's column order."""
    by_name = {s.name: s for s in series}
    ordered = [by_name[c.name] for c in comparison.columns if c.name in by_name]
    currency = comparison.params.prices.currency
    chart_list = [Chart(f"growth-{n}", f"Growth: {s.name}",
                        "Each line is one session's running token count; the dashed line is "
                        "the budget.", charts.growth(s, n, column.budget))
                  for n, (s, column) in enumerate(zip(ordered, comparison.columns, strict=True))]
    chart_list += [
        Chart("sizes", "Session sizes", "How many sessions reach each size, per policy.",
              charts.size_distribution(ordered)),
        Chart("cost-per-day", "Rehydration cost per day",
              f"Cache writes and reads priced in {currency}, per UTC day.",
              charts.cost_per_day(ordered, currency)),
        Chart("share-per-space", "Cross-user share per space",
              "The share of each turn's context written for other people, per space.",
              charts.share_per_space(ordered)),
    ]
    usage = next((s for s in ordered if s.session_costs), None)
    if usage is not None:
        costs = usage.session_costs
        total = sum(c.cost for c in costs)
        top = sum(c.cost for c in costs[:TOP_SESSIONS])
        chart_list += [
            Chart("top-sessions", f"Costliest sessions of {usage.name}",
                  f"{len(costs):,} sessions cost {total:,.2f} {currency} over the window.",
                  charts.top_sessions(costs, currency)),
            Chart("concentration", "Concentration of the spend",
                  f"The {TOP_SESSIONS} costliest sessions are "
                  f"{(top / total if total else 0):.0%} of the total.",
                  charts.concentration(costs, TOP_SESSIONS)),
            Chart("cost-by", "Cost by chat kind and agent",
                  "The projection in use today, as gateways see it.",
                  charts.cost_by(costs, currency)),
        ]
    moment = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>convlog: what each scope policy costs</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>What each scope policy costs</h1>",
        f'<p class="lead">{escape(describe_window(comparison))}.</p>',
        "<h2>Side by side</h2>", _table(comparison), _crossings(comparison),
        "<h2>Charts</h2>",
        *(_figure(chart) for chart in chart_list),
        _usage_table(usage.name, usage.session_costs, currency) if usage is not None else "",
        "<h2>What the numbers mean</h2><dl>",
        *(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in DEFINITIONS),
        "</dl>",
        f"<footer>Generated by convlog on {moment}, from the log and its stored token "
        "counts.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _table(comparison: Comparison) -> str:
    head = "".join(f"<th>{escape(t)}</th>" for t in column_titles(comparison))
    rows = []
    for label, values in comparison_rows(comparison):
        sub = ' class="sub"' if label.startswith("  ") else ""
        bad = label.startswith("privacy")
        cells = "".join(
            ('<td class="bad">' if bad and v not in ("0", "-") else "<td>") + escape(v) + "</td>"
            for v in values)
        rows.append(f"<tr{sub}><td>{escape(label.strip())}</td>{cells}</tr>")
    return (f"<table><thead><tr><th></th>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _crossings(comparison: Comparison, limit: int = 10) -> str:
    """When each session crossed its policy's budget, the first ones per policy."""
    rows = []
    for column in comparison.columns:
        for crossing in column.crossings[:limit]:
            rows.append(f"<tr><td>{escape(column.name)}</td>"
                        f"<td>{escape(charts.session_label(crossing.key, 80))}</td>"
                        f"<td>{crossing.crossed_at:%Y-%m-%d %H:%M}</td>"
                        f"<td>{crossing.tokens:,}</td></tr>")
        if len(column.crossings) > limit:
            rows.append(f'<tr class="sub"><td>{escape(column.name)}</td><td>… and '
                        f"{len(column.crossings) - limit:,} more</td><td></td><td></td></tr>")
    if not rows:
        return "<p>No session goes over its budget under any policy.</p>"
    return ("<h3>Sessions over the budget, and when they crossed it</h3>"
            '<table class="crossings"><thead><tr>'
            "<th>policy</th><th>session</th><th>crossed</th><th>tokens at the end</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _usage_table(name: str, costs: Sequence[SessionCost], currency: str,
                 limit: int = 10) -> str:
    """The projection in use: its costliest sessions with their turns and context tokens."""
    rows = "".join(
        f"<tr><td>{escape(charts.session_label(c.key, 80))}</td><td>{escape(c.kind)}</td>"
        f"<td>{escape(c.agent)}</td><td>{c.turns:,}</td><td>{c.context_tokens:,}</td>"
        f"<td>{c.cost:,.2f} {escape(currency)}</td></tr>" for c in costs[:limit])
    return (f"<h3>The costliest sessions of {escape(name)}</h3>"
            '<table class="crossings"><thead><tr><th>session</th><th>kind</th><th>agent</th>'
            "<th>turns</th><th>context tokens</th><th>cost</th></tr></thead><tbody>"
            + rows + "</tbody></table>")


def _figure(chart: Chart) -> str:
    return (f'<figure class="chart" id="{escape(chart.id)}">{chart.svg}'
            f"<figcaption><strong>{escape(chart.title)}.</strong> {escape(chart.caption)}"
            "</figcaption></figure>")
