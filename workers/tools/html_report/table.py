"""The comparison as rows of text: one row per metric, one column per policy.

The terminal table (`convlog simulate`), the demo and the HTML report all show
these rows, so the three never disagree on a label or a rounding. Each row also
says which way is better (or that neither is) and what it counts, in a line short
enough to sit under its label in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from projections.simulate import Comparison, PolicyMetrics

Row = tuple[str, list[str]]
Better = Literal["lower", "higher", "neither"]


@dataclass(frozen=True, slots=True)
class Line:
    """One metric across the policies: its label, the values as shown, and how to read it."""

    label: str  # two leading spaces: a sub-row of the one above
    values: list[str]
    numbers: list[float | None]  # what ranks the values; None: nothing to rank
    better: Better
    means: str  # a short definition, shown beside the row

    @property
    def best(self) -> set[int]:
        """The columns with the best value (ties all count); none when every value shows
        the same (nothing to choose between) or the row has no direction."""
        if self.better == "neither":
            return set()
        ranked = [(n, i) for i, n in enumerate(self.numbers) if n is not None]
        if not ranked or len({self.values[i] for _, i in ranked}) == 1:
            return set()
        top = (min if self.better == "lower" else max)(n for n, _ in ranked)
        shown = {self.values[i] for n, i in ranked if n == top}
        return {i for _, i in ranked if self.values[i] in shown}

    @property
    def all_equal(self) -> bool:
        return len(set(self.values)) == 1


def money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}" if value >= 0.01 or value == 0 else f"{value:.4f} {currency}"


def share(value: float) -> str:
    return f"{value:.1%}"


def _kinds(metrics: PolicyMetrics) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in metrics.sessions_by_kind.items())


def _line(cols: Sequence[PolicyMetrics], label: str, number: Callable[[PolicyMetrics], float],
          show: Callable[[float], str], better: Better, means: str) -> Line:
    numbers = [float(number(c)) for c in cols]
    return Line(label, [show(n) for n in numbers], list(numbers), better, means)


def comparison_lines(comparison: Comparison) -> list[Line]:
    """Every metric the comparison holds, with its direction and a short definition."""
    cols = comparison.columns
    currency = comparison.params.prices.currency

    def count(value: float) -> str:
        return f"{value:,.0f}"

    lines = [
        _line(cols, "sessions", lambda c: c.sessions, count, "neither",
              "sessions with a member in the window"),
        Line("  by chat kind", [_kinds(c) for c in cols], [None] * len(cols), "neither",
             "the chat type of their members (mixed: several)"),
        _line(cols, "  spanning several chats", lambda c: c.multi_chat_sessions, count,
              "neither", "members from more than one chat"),
        _line(cols, "tokens per session p50", lambda c: c.size_p50, count, "neither",
              "what a session holds at the end of the window; median"),
        _line(cols, "tokens per session p95", lambda c: c.size_p95, count, "neither",
              "95 % of the sessions hold this much or less"),
        _line(cols, "tokens per session max", lambda c: c.size_max, count, "neither",
              "the largest session"),
        _line(cols, "budget (tokens)", lambda c: c.budget, count, "neither",
              "most context a turn is sent (--budget or the policy's limit)"),
        _line(cols, "sessions over the budget", lambda c: c.over_budget, count, "lower",
              "sessions whose oldest messages no longer fit a turn's context"),
        Line("  first crossed", [c.crossings[0].crossed_at.strftime("%Y-%m-%d %H:%M")
                                 if c.crossings else "-" for c in cols],
             [None] * len(cols), "neither", "when the first of them went over"),
        _line(cols, "turns (inbound messages)", lambda c: c.turns, count, "neither",
              "each sends its session's context to the agent"),
        _line(cols, "context tokens per turn", lambda c: c.tokens_per_turn, count, "lower",
              "newest summary plus the newest messages that fit the budget"),
        _line(cols, "rehydration tokens", lambda c: c.context_tokens, count, "lower",
              "all the turns' context tokens: what a scope costs"),
        _line(cols, "  cache writes", lambda c: c.cache_write_tokens, count, "lower",
              "context not read from the prompt cache (the dear part)"),
        _line(cols, "  cache reads", lambda c: c.cache_read_tokens, count, "neither",
              "the previous turn's context, reused while the cache lives"),
        _line(cols, "rehydration cost", lambda c: c.cost, lambda v: money(v, currency), "lower",
              "cache writes and reads at the prices above"),
        _line(cols, "cross-user share", lambda c: c.cross_user_share, share, "lower",
              "of a context, the tokens written for other people than the asker"),
        _line(cols, "interrupt exposure (turns)", lambda c: c.interrupts, count, "lower",
              "turns sent while someone else's message is still unanswered"),
        _line(cols, "privacy leakage (tokens)", lambda c: c.privacy_leak_tokens, count, "lower",
              "context that crossed a privacy zone: 0 unless convlog has a bug"),
    ]
    if comparison.baseline is not None:
        lines.append(Line(
            f"orphaned sessions of {comparison.baseline}",
            ["-" if c.orphaned_sessions is None else f"{c.orphaned_sessions:,}" for c in cols],
            [None if c.orphaned_sessions is None else float(c.orphaned_sessions) for c in cols],
            "lower", f"sessions of {comparison.baseline} split by the switch: history a "
                     "gateway would lose"))
    return lines


def comparison_rows(comparison: Comparison) -> list[Row]:
    """(label, one value per column) for every metric the comparison holds."""
    return [(line.label, line.values) for line in comparison_lines(comparison)]


def column_titles(comparison: Comparison) -> list[str]:
    return [c.name if c.source == "candidate" else f"{c.name} (now)"
            for c in comparison.columns]


def describe_window(comparison: Comparison) -> str:
    window, params = comparison.window, comparison.params
    span = (f"{window.since.isoformat() if window.since else 'the beginning'} to "
            f"{window.until.isoformat() if window.until else 'now'}")
    prices = params.prices
    ttl = ("never expires" if params.cache_ttl_minutes is None
           else f"expires after {params.cache_ttl_minutes:g} min")
    return (f"events up to position {window.upto:,}, turns from {span}"
            + (f", agent {window.agent}" if window.agent else "")
            + (f", space {window.space}" if window.space else "")
            + f"; cache writes {prices.write_per_million:g}, reads {prices.read_per_million:g} "
            f"{prices.currency} per million tokens; the prompt cache {ttl}")
