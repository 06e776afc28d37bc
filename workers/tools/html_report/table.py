"""The comparison as rows of text: one row per metric, one column per policy.

The terminal table (`convlog simulate`), the demo and the HTML report all show
these rows, so the three never disagree on a label or a rounding.
"""

from __future__ import annotations

from projections.simulate import Comparison, PolicyMetrics

Row = tuple[str, list[str]]


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}" if value >= 0.01 or value == 0 else f"{value:.4f} {currency}"


def _kinds(metrics: PolicyMetrics) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in metrics.sessions_by_kind.items())


def comparison_rows(comparison: Comparison) -> list[Row]:
    """(label, one value per column) for every metric the comparison holds."""
    cols = comparison.columns
    currency = comparison.params.prices.currency
    rows: list[Row] = [
        ("sessions", [f"{c.sessions:,}" for c in cols]),
        ("  by chat kind", [_kinds(c) for c in cols]),
        ("  spanning several chats", [f"{c.multi_chat_sessions:,}" for c in cols]),
        ("tokens per session p50", [f"{c.size_p50:,}" for c in cols]),
        ("tokens per session p95", [f"{c.size_p95:,}" for c in cols]),
        ("tokens per session max", [f"{c.size_max:,}" for c in cols]),
        ("budget (tokens)", [f"{c.budget:,}" for c in cols]),
        ("sessions over the budget", [f"{c.over_budget:,}" for c in cols]),
        ("  first crossed", [c.crossings[0].crossed_at.strftime("%Y-%m-%d %H:%M")
                             if c.crossings else "-" for c in cols]),
        ("turns (inbound messages)", [f"{c.turns:,}" for c in cols]),
        ("context tokens per turn", [f"{c.tokens_per_turn:,.0f}" for c in cols]),
        ("rehydration tokens", [f"{c.context_tokens:,}" for c in cols]),
        ("  cache writes", [f"{c.cache_write_tokens:,}" for c in cols]),
        ("  cache reads", [f"{c.cache_read_tokens:,}" for c in cols]),
        ("rehydration cost", [_money(c.cost, currency) for c in cols]),
        ("cross-user share", [f"{c.cross_user_share:.1%}" for c in cols]),
        ("interrupt exposure (turns)", [f"{c.interrupts:,}" for c in cols]),
        ("privacy leakage (tokens)", [f"{c.privacy_leak_tokens:,}" for c in cols]),
    ]
    if comparison.baseline is not None:
        rows.append((f"orphaned sessions of {comparison.baseline}",
                     ["-" if c.orphaned_sessions is None else f"{c.orphaned_sessions:,}"
                      for c in cols]))
    return rows


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
