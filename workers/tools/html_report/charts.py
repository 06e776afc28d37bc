"""The report's charts: matplotlib figures rendered to SVG text, to be inlined in the page.

No pyplot (no global state, no display): each chart is a Figure drawn by the SVG
backend. Text is drawn as paths, so the page needs no font; ids are salted with
a fixed string, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DayLocator
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from projections.simulate.series import Series, SessionCost

mpl.rcParams.update({
    "svg.fonttype": "path", "svg.hashsalt": "convlog-report", "font.size": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "axes.titlesize": 10, "axes.titleweight": "bold",
})
DASHES = ("-", (0, (5, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)))  # lines that coincide stay seen
MARKERS = ("o", "s", "^", "D", "v", "P")
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WIDTH = 9.0  # inches: the charts' column at 96 dpi is about 860 px
GAP = 3.0  # a line stops across a gap longer than this many times the usual spacing


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def dash(index: int) -> Any:
    return DASHES[index % len(DASHES)]


def _days(values: Sequence[date]) -> list[float]:
    """Times as matplotlib's date numbers (days since its epoch, 1970-01-01 UTC)."""
    found = []
    for value in values:
        moment = (value if isinstance(value, datetime)
                  else datetime(value.year, value.month, value.day, tzinfo=UTC))
        found.append((moment - EPOCH).total_seconds() / 86_400)
    return found


def with_gaps(xs: Sequence[float], ys: Sequence[float], *, spacing: float | None = None,
              factor: float = GAP) -> tuple[list[float], list[float]]:
    """The points with a NaN after each one followed by a gap longer than `factor` times
    `spacing` (default: the median step between points), so a line drawn through them
    stops at the gap instead of inventing values across it. The NaN sits at the x of the
    point before the gap: a step line (`where="post"`) draws no level across it either."""
    steps = sorted(b - a for a, b in zip(xs, xs[1:], strict=False) if b > a)
    if spacing is None:
        spacing = steps[len(steps) // 2] if steps else 0.0
    if spacing <= 0 or len(xs) < 2:
        return list(xs), list(ys)
    out_x, out_y = [xs[0]], [ys[0]]
    for before, x, y in zip(xs, xs[1:], ys[1:], strict=False):
        if x - before > factor * spacing:
            out_x.append(before)
            out_y.append(float("nan"))
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def _dates(axes: Axes, days: Sequence[float], *, whole_days: bool = False) -> None:
    """A date axis: concise labels; whole days only when the data is per day."""
    axes.xaxis_date(tz="UTC")
    locator: AutoDateLocator | DayLocator = AutoDateLocator(  # type: ignore[no-untyped-call]
        minticks=3, maxticks=9, tz=UTC)
    if whole_days and days and max(days) - min(days) <= 10:
        locator = DayLocator(tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator, tz=UTC, formats=["%Y", "%b", "%b %d", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%b %Y", "%b %d", "%H:%M", "%H:%M"], show_offset=False))
    if whole_days and days:
        axes.set_xlim(min(days) - 0.5, max(days) + 0.5)


def _percent(value: float) -> str:
    """A share as a bar's label: whole percents, a little more precision near zero."""
    if value == 0:
        return "0 %"
    return f"{value * 100:.1f} %" if value < 0.01 else f"{value * 100:.0f} %"


def _tokens(value: float, _: object = None) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:g}"


def to_svg(figure: Figure) -> str:
    """The figure as an inline <svg> element (no XML prolog, no doctype)."""
    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = re.sub(r"^.*?(<svg\b)", r"\1", buffer.getvalue(), count=1, flags=re.S)
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)  # labels are drawn as paths


def growth(series: Series, index: int, budget: int) -> str:
    """Token growth over time of the policy's largest sessions, with the budget line."""
    figure = Figure(figsize=(WIDTH, 2.6), layout="constrained")
    axes = figure.add_subplot()
    every: list[float] = []
    for n, curve in enumerate(series.growth):
        days = _days(curve.times)
        every += days
        xs, ys = with_gaps(days, [float(t) for t in curve.tokens], spacing=_spacing(series))
        axes.step(xs, ys, where="post", linewidth=1.4, color=color(index),
                  alpha=1.0 - 0.15 * n, label=session_label(curve.key))
    axes.axhline(budget, color="#555555", linestyle="--", linewidth=1, label="budget")
    _dates(axes, every)
    axes.set_title(f"{_short(series.name)}: the {len(series.growth)} largest sessions over time")
    axes.set_ylabel("tokens in the session")
    axes.yaxis.set_major_formatter(FuncFormatter(_tokens))
    _legend(figure, axes, fontsize=7, ncols=3)
    return to_svg(figure)


def _spacing(series: Series) -> float | None:
    """The usual step between the growth curves' points, all curves together (a curve of
    few points says little), and at least a day: a session silent for hours or a night
    keeps its level, one silent for days or months has a gap."""
    steps = []
    for curve in series.growth:
        days = _days(curve.times)
        steps += [b - a for a, b in zip(days, days[1:], strict=False) if b > a]
    steps.sort()
    return max(steps[len(steps) // 2], 1.0) if steps else None


def size_distribution(all_series: Sequence[Series]) -> str:
    """How many sessions of each size, per policy, on log-spaced bins."""
    figure = Figure(figsize=(WIDTH, 2.8), layout="constrained")
    axes = figure.add_subplot()
    largest = max((max(s.sizes) for s in all_series if s.sizes), default=1)
    edges = [0.0, 1.0]
    while edges[-1] < largest:
        edges.append(edges[-1] * 2)
    for index, series in enumerate(all_series):
        if series.sizes:
            axes.hist([max(size, 1) for size in series.sizes], bins=edges, histtype="step",
                      linewidth=1.6, linestyle=dash(index), color=color(index),
                      label=_short(series.name))
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(FuncFormatter(_tokens))
    axes.set_xlabel("tokens in the session at the end of the window")
    axes.set_ylabel("sessions")
    axes.set_title("Session sizes")
    _legend(figure, axes, fontsize=8, ncols=len(all_series))
    return to_svg(figure)


def cost_per_day(all_series: Sequence[Series], currency: str) -> str:
    """Rehydration cost per day, one line per policy."""
    figure = Figure(figsize=(WIDTH, 2.6), layout="constrained")
    axes = figure.add_subplot()
    every: list[float] = []
    for index, series in enumerate(all_series):
        days = sorted(series.cost_per_day)
        xs, ys = with_gaps(_days(days), [series.cost_per_day[d] for d in days], spacing=1.0)
        every += xs
        axes.plot(xs, ys, marker=MARKERS[index % len(MARKERS)], markersize=4, linewidth=1.4,
                  linestyle=dash(index), color=color(index), label=_short(series.name))
    _dates(axes, every, whole_days=True)
    axes.set_ylim(bottom=0)
    axes.set_ylabel(f"{currency} per day")
    axes.set_title("Rehydration cost per day")
    _legend(figure, axes, fontsize=8, ncols=len(all_series))
    return to_svg(figure)


def share_per_space(all_series: Sequence[Series]) -> str:
    """Cross-user share of context per space, grouped bars: one group per space."""
    spaces = sorted({space for s in all_series for space in s.share_per_space})
    height = max(1.8, 0.2 * len(spaces) * max(1, len(all_series)) + 1.1)
    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = figure.add_subplot()
    bar = 0.8 / max(1, len(all_series))
    for index, series in enumerate(all_series):
        places = [n + index * bar for n in range(len(spaces))]
        shares = [series.share_per_space.get(space, 0.0) for space in spaces]
        axes.barh(places, shares, height=bar * 0.9, color=color(index),
                  label=_short(series.name))
        for place, value in zip(places, shares, strict=True):
            if value == 0:  # no bar to see: a mark on the axis, in the policy's colour
                axes.plot([0, 0], [place - bar * 0.42, place + bar * 0.42], color=color(index),
                          linewidth=3.5, solid_capstyle="butt", clip_on=False, zorder=3)
            axes.annotate(_percent(value), (value, place), xytext=(4, 0),
                          textcoords="offset points", va="center", fontsize=7, color="#333333")
    axes.set_yticks([n + bar * (len(all_series) - 1) / 2 for n in range(len(spaces))],
                    [_short(space, 28) for space in spaces])
    axes.invert_yaxis()
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlim(0, 1.08)
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel("of a context, the share written for other people (lower is better)")
    axes.set_title("Cross-user share of context, per space")
    _legend(figure, axes, fontsize=8, ncols=len(all_series))
    return to_svg(figure)


def top_sessions(costs: Sequence[SessionCost], currency: str, n: int = 10) -> str:
    """The active projection's costliest sessions."""
    shown = list(costs[:n])
    figure = Figure(figsize=(WIDTH, max(1.8, 0.3 * len(shown) + 0.8)), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(range(len(shown)), [c.cost for c in shown], color=color(0))
    axes.set_yticks(range(len(shown)), [session_label(c.key) for c in shown])
    axes.invert_yaxis()
    axes.set_xlabel(f"{currency} over the window")
    axes.set_title(f"The {len(shown)} costliest sessions now")
    return to_svg(figure)


def concentration(costs: Sequence[SessionCost], top: int) -> str:
    """Share of the total cost paid by the N costliest sessions, N = 1 .. all."""
    total = sum(c.cost for c in costs) or 1.0
    running, shares = 0.0, []
    for cost in costs:
        running += cost.cost
        shares.append(running / total)
    figure = Figure(figsize=(WIDTH, 2.4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(range(1, len(shares) + 1), shares, color=color(0), linewidth=1.6)
    if len(shares) >= top:
        axes.axvline(top, color="#555555", linestyle="--", linewidth=1)
        axes.annotate(f"top {top}: {shares[top - 1]:.0%} of the cost", (top, shares[top - 1]),
                      textcoords="offset points", xytext=(8, -14), fontsize=8)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("the N costliest sessions")
    axes.set_ylabel("share of the total cost")
    axes.set_title("How concentrated the spend is")
    return to_svg(figure)


def cost_by(costs: Sequence[SessionCost], currency: str) -> str:
    """The active projection's cost by chat kind and by agent, side by side."""
    figure = Figure(figsize=(WIDTH, 2.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for axes, title, attribute in ((left, "by chat kind", "kind"), (right, "by agent", "agent")):
        totals: dict[str, float] = {}
        for cost in costs:
            label = str(getattr(cost, attribute))
            totals[label] = totals.get(label, 0.0) + cost.cost
        labels = sorted(totals, key=lambda k: -totals[k])[:8]
        axes.bar(range(len(labels)), [totals[k] for k in labels], color=color(0))
        axes.set_xticks(range(len(labels)), [_short(k, 14) for k in labels], fontsize=8)
        axes.set_title(f"Cost {title}")
        axes.set_ylabel(currency)
    return to_svg(figure)


def session_label(key: str, limit: int = 44) -> str:
    """A session key without the parts every session of a chart shares (agent, account)."""
    parts = [part for part in key.split("/")
             if not part.startswith(("agent=", "account="))]
    label = " ".join(part.removeprefix("platform=") for part in parts) or key
    return _short(label, limit)


def _legend(figure: Figure, axes: Axes, *, ncols: int, **options: Any) -> None:
    """A legend below the plot, off the data, when something is labelled (an empty window
    draws nothing to name)."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", frameon=False,
                      ncols=max(1, min(ncols, len(handles))), **options)


def _short(value: str, limit: int = 36) -> str:
    """A label as matplotlib shows it literally: cut, no mathtext, never hidden."""
    cut = value if len(value) <= limit else value[:limit - 1] + "…"
    cut = cut.replace("$", r"\$")
    return " " + cut if cut.startswith("_") else cut
