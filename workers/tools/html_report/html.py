"""The report as one self-contained HTML file: no script, no font, no request of any kind.

Everything is inline: the style sheet, the table, the charts as <svg> elements.
It reads the same with JavaScript off, and prints (each chart stays on one page).
It opens on its answer (which policy wins on each criterion, and at what price),
then the table behind it, each row with its direction and definition, then charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from projections.simulate import Comparison
from projections.simulate.model import TOP_SESSIONS
from projections.simulate.series import Series, SessionCost
from workers.tools.html_report import charts
from workers.tools.html_report.columns import Described, report_columns
from workers.tools.html_report.sections import comparison_table, summary
from workers.tools.html_report.table import describe_window, money

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d1d1f; max-width: 1120px; margin: 1.2em auto; padding: 0 1em; }
h1 { font-size: 1.55em; margin: 0 0 0.1em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
p.lead { color: #555; margin-top: 0; font-size: 0.92em; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.5em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #999; vertical-align: bottom; }
td { white-space: nowrap; }
th small { display: block; font-weight: normal; color: #666; font-size: 0.8em;
           line-height: 1.3; }
.swatch { display: inline-block; width: 0.75em; height: 0.75em; border-radius: 2px;
          margin-right: 0.3em; vertical-align: -0.05em; }
.policy { white-space: nowrap; font-weight: 600; }
#summary { background: #f5f8fb; border: 1px solid #d8e0e8; border-radius: 6px;
           padding: 0.2em 1em 0.6em; margin: 0.8em 0 0; }
#summary h2 { margin: 0.5em 0 0.2em; border: 0; }
p.verdict { font-size: 1.05em; margin: 0.2em 0 0.6em; }
table.summary th, table.summary td { text-align: left; vertical-align: top;
                                      border-bottom: 1px solid #e3e9ef; }
table.summary tbody th { width: 15em; }
table.summary td.winner { width: 14em; }
table.summary td.winner .policy { display: inline-block; margin-right: 0.4em; }
table.summary td.why { white-space: normal; }
.tie, .none { color: #666; font-weight: normal; }
p.note { margin: 0.5em 0 0; color: #444; font-size: 0.92em; }
table.compare tbody th { text-align: left; font-weight: normal; min-width: 15em; }
table.compare tr.sub th { padding-left: 1.5em; color: #444; }
table.compare th.policy-col { text-align: right; font-weight: normal; max-width: 13em;
                              white-space: normal; font-size: 0.85em; line-height: 1.3; }
table.compare th.policy-col .desc { display: block; color: #333; margin-bottom: 0.3em; }
table.compare th.policy-col .policy { font-size: 1.05em; }
table.compare td.better, table.compare th.better { text-align: left; color: #555;
                                                   font-size: 0.85em; }
table.compare td.better small { display: block; color: #999; }
table.compare tr.wrap td { white-space: normal; }
td.best, span.best { background: #e3f4e6; font-weight: 700; color: #135d24; }
td.best::before { content: "\\2605\\00a0"; color: #1a7f37; }
tr.bad td { color: #b00020; font-weight: bold; }
p.key { color: #666; font-size: 0.85em; }
table.crossings td:nth-child(-n+2), table.crossings th:nth-child(-n+2) { text-align: left; }
figure.chart { margin: 1.5em 0; break-inside: avoid; page-break-inside: avoid; }
figure.chart svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
@media print { body { max-width: none; margin: 0; font-size: 10pt; }
               h2 { break-after: avoid; } #summary { break-inside: avoid; } }
"""


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    caption: str
    svg: str


def render(comparison: Comparison, series: Sequence[Series], *,
           described: Mapping[str, Described] | None = None,
           generated_at: datetime | None = None) -> str:
    """The whole page; `series` in the comparison's column order, `described` by column
    name (what each policy does and the file it came from; the names alone without it)."""
    columns = report_columns(comparison, described or {})
    by_name = {s.name: s for s in series}
    ordered = [by_name[c.name] for c in comparison.columns if c.name in by_name]
    currency = comparison.params.prices.currency
    chart_list = [Chart(f"growth-{n}", f"Growth: {s.name}",
                        "Each line is one session's running token count; the dashed line is "
                        "the budget. A line stops where its session was silent for more than "
                        "three days (or three times its usual spacing).",
                        charts.growth(s, n, column.budget))
                  for n, (s, column) in enumerate(zip(ordered, comparison.columns, strict=True))]
    chart_list += [
        Chart("sizes", "Session sizes", "How many sessions reach each size, per policy.",
              charts.size_distribution(ordered)),
        Chart("cost-per-day", "Rehydration cost per day",
              f"Cache writes and reads priced in {currency}, per UTC day with turns; a line "
              "stops across more than three days without any.",
              charts.cost_per_day(ordered, currency)),
        Chart("share-per-space", "Cross-user share per space",
              "The share of each turn's context written for other people, per space; lower "
              "is better, and a policy at 0 % shows as a mark on the axis.",
              charts.share_per_space(ordered)),
    ]
    usage = next((s for s in ordered if s.session_costs), None)
    if usage is not None:
        costs = usage.session_costs
        total = sum(c.cost for c in costs)
        top = sum(c.cost for c in costs[:TOP_SESSIONS])
        chart_list += [
            Chart("top-sessions", f"Costliest sessions of {usage.name}",
                  f"{len(costs):,} sessions cost {money(total, currency)} over the window.",
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
        "<title>convlog: which scope policy to choose</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Which scope policy to choose</h1>",
        f'<p class="lead">The same log under each policy: '
        f"{escape(describe_window(comparison))}.</p>",
        summary(comparison, columns),
        "<h2>Side by side</h2>", comparison_table(comparison, columns), _crossings(comparison),
        "<h2>Charts</h2>",
        *(_figure(chart) for chart in chart_list),
        _usage_table(usage.name, usage.session_costs, currency) if usage is not None else "",
        f"<footer>Generated by convlog on {moment}, from the log and its stored token "
        "counts. The full definition of each row: docs/simulate.md.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


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
        f"<td>{escape(money(c.cost, currency))}</td></tr>" for c in costs[:limit])
    return (f"<h3>The costliest sessions of {escape(name)}</h3>"
            '<table class="crossings"><thead><tr><th>session</th><th>kind</th><th>agent</th>'
            "<th>turns</th><th>context tokens</th><th>cost</th></tr></thead><tbody>"
            + rows + "</tbody></table>")


def _figure(chart: Chart) -> str:
    return (f'<figure class="chart" id="{escape(chart.id)}">{chart.svg}'
            f"<figcaption><strong>{escape(chart.title)}.</strong> {escape(chart.caption)}"
            "</figcaption></figure>")
