"""The report's summary says who wins each criterion from the comparison's own numbers,
ties and "no difference" included; its table marks each row's best; its lines stop at
gaps in time."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from projections.simulate import Comparison, Params, PolicyMetrics, Window
from workers.tools.html_report.charts import with_gaps
from workers.tools.html_report.summary import headline, same_numbers, verdicts
from workers.tools.html_report.table import comparison_lines


def metrics(name: str, *, cost: float = 1.0, cross: int = 0, interrupts: int = 0,
            orphans: int | None = 0, source: str = "candidate") -> PolicyMetrics:
    values: dict[str, Any] = dict(
        name=name, source=source, budget=1000, sessions=1, sessions_by_kind={"group": 1},
        multi_chat_sessions=0, size_p50=1, size_p95=1, size_max=1, over_budget=0,
        crossings=(), turns=10, context_tokens=1000, cache_write_tokens=1000,
        cache_read_tokens=0, cost=cost, cross_user_tokens=cross, interrupts=interrupts,
        privacy_leak_tokens=0, orphaned_sessions=orphans)
    return PolicyMetrics(**values)


def compare(*columns: PolicyMetrics, baseline: str | None = "now") -> Comparison:
    """As `compare` gives it: no orphans counted without a baseline."""
    if baseline is None:
        columns = tuple(replace(c, orphaned_sessions=None) for c in columns)
    return Comparison(Window(upto=100), Params(), columns, baseline)


def verdict_of(comparison: Comparison) -> dict[str, Any]:
    names = [c.name for c in comparison.columns]
    return {v.criterion.key: v for v in verdicts(comparison, names)}


def test_a_winner_is_named_with_its_value_the_runner_up_and_its_worst_trade_off() -> None:
    comparison = compare(metrics("now", cost=3.0, cross=200, interrupts=9, source="now"),
                         metrics("cheap", cost=1.0, cross=500, interrupts=9, orphans=4),
                         metrics("private", cost=2.0, cross=0, interrupts=0, orphans=7))
    found = verdict_of(comparison)
    cost = found["cost"]
    assert [comparison.columns[i].name for i in cost.winners] == ["cheap"]
    # its two worst: as far behind as any policy is on both (orphans, less far, are left out)
    assert cost.sentence == ("cheap is cheapest at 1.00 USD (next: private, 2.00 USD), but it "
                             "mixes 50.0% of other users' messages into a context and exposes "
                             "9 turns to interrupts.")
    assert found["cross-user"].sentence.startswith(
        "private keeps other users' messages out of every context (0.0%) (next: now, 20.0%), "
        "but it ")
    assert found["orphans"].sentence.startswith("now orphans none of now's sessions")


def test_values_that_show_the_same_tie_and_a_criterion_where_all_do_makes_no_difference(
        ) -> None:
    comparison = compare(metrics("a", cost=1.004, interrupts=3),
                         metrics("b", cost=1.001, interrupts=3),
                         metrics("c", cost=2.0, interrupts=3), baseline=None)
    found = verdict_of(comparison)
    assert found["cost"].winners == [0, 1]
    assert found["cost"].sentence.startswith("a and b are cheapest at 1.00 USD (next: c, "
                                             "2.00 USD)")
    assert not found["interrupts"].decided
    assert found["interrupts"].sentence == ("No difference: every policy exposes 3 turns to "
                                            "interrupts.")
    assert found["orphans"].sentence.startswith("Not measured")
    assert not found["cross-user"].decided
    # a and b differ only in a cost the table rounds away: the same numbers on every row
    assert same_numbers(comparison, ["a", "b", "c"]) == [
        "b shows the same numbers as a on every row."]


def test_the_headline_says_when_no_policy_leads_and_when_nothing_differs() -> None:
    split = compare(metrics("a", cost=1.0, interrupts=5), metrics("b", cost=2.0, interrupts=1),
                    baseline=None)
    names = ["a", "b"]
    assert headline(verdicts(split, names), names).startswith(
        "No policy leads on most criteria. Best: a on cost; b on interrupts.")
    same = compare(metrics("a"), metrics("b"), baseline=None)
    assert headline(verdicts(same, names), names).startswith("The policies do not differ")
    lead = compare(metrics("a", cost=1.0, interrupts=1), metrics("b", cost=2.0, interrupts=5),
                   baseline=None)
    assert headline(verdicts(lead, names), names) == (
        "a is best on every criterion that tells the policies apart (cost and interrupts).")


def test_each_row_has_a_direction_and_marks_its_best_values_only_when_they_differ() -> None:
    comparison = compare(metrics("now", cost=2.0, source="now"), metrics("a", cost=1.0),
                         metrics("b", cost=1.0, orphans=3))
    lines = {line.label.strip(): line for line in comparison_lines(comparison)}
    assert lines["rehydration cost"].better == "lower"
    assert lines["rehydration cost"].best == {1, 2}
    assert lines["orphaned sessions of now"].best == {0, 1}
    assert lines["interrupt exposure (turns)"].best == set()  # all 0: nothing to choose
    assert lines["sessions"].better == "neither" and lines["sessions"].best == set()
    assert all(line.means for line in lines.values())


def test_a_line_stops_at_a_gap_much_longer_than_its_usual_step() -> None:
    days = [0.0, 1.0, 2.0, 3.0, 63.0, 64.0]
    xs, ys = with_gaps(days, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert len(xs) == 7 and xs[4] == 3.0 and math.isnan(ys[4])
    assert [y for y in ys if not math.isnan(y)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # a regular series, or two points a day apart, is one line
    assert not any(math.isnan(y) for y in with_gaps([0.0, 1.0, 2.0], [1.0, 1.0, 1.0])[1])
    assert not any(math.isnan(y) for y in with_gaps([0.0, 1.0], [1.0, 2.0], spacing=1.0)[1])
    # two points two months apart are two points, not a line
    assert math.isnan(with_gaps([0.0, 60.0], [1.0, 2.0], spacing=1.0)[1][1])
