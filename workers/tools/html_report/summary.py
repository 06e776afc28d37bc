"""The report's answer: which policy is best on each criterion, and what it costs elsewhere.

Four criteria, each a number the comparison already holds, lower being better:
the rehydration cost, the cross-user share (how much of a context other users
wrote), interrupt exposure (turns sent while someone else's message is still
unanswered) and orphaned sessions (history of the projection in use that the
switch would split). Values are compared as the table shows them, so two
policies that show the same number tie, and a criterion on which every policy
shows the same number is said to make no difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from projections.simulate import Comparison, PolicyMetrics
from workers.tools.html_report.table import comparison_rows, money, share

Phrase = tuple[str, str]  # the same verb phrase, for one policy and for several


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    title: str
    metric: str  # the table row it reads
    means: str  # what it counts, in a few words
    value: Callable[[PolicyMetrics], float | None]
    show: Callable[[float], str]
    best: Phrase  # what the winners do, with {v}
    worse: Phrase  # what a policy that is not best does, with {v}
    zero: Phrase | None = None  # what the winners do when the best value is 0


@dataclass(frozen=True, slots=True)
class Verdict:
    criterion: Criterion
    values: list[float | None]  # per column
    shown: list[str]  # per column, as the table shows it ("" when not measured)
    winners: list[int]  # columns with the best shown value; empty: not decided
    sentence: str

    @property
    def decided(self) -> bool:
        return bool(self.winners)

    @property
    def best(self) -> str:
        return self.shown[self.winners[0]] if self.winners else ""


def criteria(comparison: Comparison) -> list[Criterion]:
    currency = comparison.params.prices.currency
    base = comparison.baseline or "the projection in use"

    def count(value: float) -> str:
        return f"{value:,.0f}"

    return [
        Criterion("cost", "Cost", "rehydration cost",
                  "rehydration cost: the context sent with every turn", lambda c: c.cost,
                  lambda v: money(v, currency),
                  ("is cheapest at {v}", "are cheapest at {v}"), ("costs {v}", "cost {v}")),
        Criterion("cross-user", "Privacy between users", "cross-user share",
                  "cross-user share: of a context, what other people wrote",
                  lambda c: c.cross_user_share, share,
                  ("mixes the least of other users' messages into a context ({v})",
                   "mix the least of other users' messages into a context ({v})"),
                  ("mixes {v} of other users' messages into a context",
                   "mix {v} of other users' messages into a context"),
                  ("keeps other users' messages out of every context ({v})",
                   "keep other users' messages out of every context ({v})")),
        Criterion("interrupts", "Interrupts", "interrupt exposure (turns)",
                  "turns sent while someone else's message is unanswered",
                  lambda c: c.interrupts, count,
                  ("exposes the fewest turns to interrupts ({v})",
                   "expose the fewest turns to interrupts ({v})"),
                  ("exposes {v} turns to interrupts", "expose {v} turns to interrupts"),
                  ("exposes no turn to interrupts", "expose no turn to interrupts")),
        Criterion("orphans", "History kept", f"orphaned sessions of {base}",
                  f"sessions of {base} the switch splits: history a gateway loses",
                  lambda c: None if c.orphaned_sessions is None else c.orphaned_sessions,
                  count,
                  (f"orphans the fewest of {base}'s sessions ({{v}})",
                   f"orphan the fewest of {base}'s sessions ({{v}})"),
                  (f"orphans {{v}} of {base}'s sessions", f"orphan {{v}} of {base}'s sessions"),
                  (f"orphans none of {base}'s sessions", f"orphan none of {base}'s sessions")),
    ]


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _rank(values: list[float | None], shown: list[str]) -> tuple[list[int], list[int]]:
    """(the columns with the best shown value, those with the next best), lower being better."""
    distinct: list[str] = []
    for _, text in sorted((v, shown[i]) for i, v in enumerate(values) if v is not None):
        if text not in distinct:
            distinct.append(text)
    if len(distinct) < 2:
        return [], []
    return ([i for i, t in enumerate(shown) if t == distinct[0] and values[i] is not None],
            [i for i, t in enumerate(shown) if t == distinct[1] and values[i] is not None])


def _measure(comparison: Comparison, criterion: Criterion) -> Verdict:
    values = [None if (v := criterion.value(c)) is None else float(v)
              for c in comparison.columns]
    shown = ["" if v is None else criterion.show(v) for v in values]
    return Verdict(criterion, values, shown, _rank(values, shown)[0], "")


def _best(verdict: Verdict, many: bool) -> str:
    """What the winners of a decided criterion do."""
    criterion = verdict.criterion
    zero = criterion.zero is not None and verdict.values[verdict.winners[0]] == 0
    return (criterion.zero if zero and criterion.zero else criterion.best)[many].format(
        v=verdict.best)


Weak = tuple[tuple[Criterion, str], ...]  # where a policy falls behind, and its value there


def _weak(index: int, own: Verdict, verdicts: Sequence[Verdict]) -> Weak:
    """The criteria the column falls furthest behind on (at most two), worst first: by how
    far its value lies from the best towards the worst, 0..1."""
    found = []
    for order, verdict in enumerate(verdicts):
        value = verdict.values[index]
        if verdict is own or not verdict.decided or index in verdict.winners or value is None:
            continue
        measured = [v for v in verdict.values if v is not None]
        low, high = min(measured), max(measured)
        far = (value - low) / (high - low) if high > low else 0.0
        found.append((-far, order, verdict.criterion, verdict.shown[index]))
    found.sort(key=lambda f: (f[0], f[1]))
    return tuple((criterion, shown) for n, (far, _, criterion, shown) in enumerate(found)
                 if n == 0 or (n == 1 and -far >= 0.5))


def _does(weak: Weak, many: bool) -> str:
    if not weak:
        return ("gives up nothing on the other criteria",
                "give up nothing on the other criteria")[many]
    return " and ".join(criterion.worse[many].format(v=shown) for criterion, shown in weak)


def _sentence(verdict: Verdict, verdicts: Sequence[Verdict], names: Sequence[str]) -> str:
    criterion = verdict.criterion
    if all(v is None for v in verdict.values):
        return ("Not measured: there is no projection in use to compare with "
                "(--against none)." if criterion.key == "orphans" else "Not measured.")
    if not verdict.decided:
        measured = [i for i, s in enumerate(verdict.shown) if s]
        value = verdict.shown[measured[0]]
        if len(measured) == 1:
            return (f"Nothing to compare: {names[measured[0]]} "
                    f"{criterion.worse[0].format(v=value)}.")
        return f"No difference: every policy {criterion.worse[0].format(v=value)}."
    winners, runners = _rank(verdict.values, verdict.shown)
    head = (f"{_names([names[i] for i in winners])} {_best(verdict, len(winners) > 1)}"
            f" (next: {_names([names[i] for i in runners])}, {verdict.shown[runners[0]]})")
    if not any(v is not verdict and v.decided for v in verdicts):
        return head + "."
    groups: dict[Weak, list[int]] = {}
    for i in winners:
        groups.setdefault(_weak(i, verdict, verdicts), []).append(i)
    if len(groups) == 1:
        (weak, group), = groups.items()
        subject = "it" if len(group) == 1 else ("both" if len(group) == 2 else f"all {len(group)}")
        return f"{head}, {'but' if weak else 'and'} {subject} {_does(weak, len(group) > 1)}."
    return head + "; " + "; ".join(f"{_names([names[i] for i in group])} "
                                   f"{_does(weak, len(group) > 1)}"
                                   for weak, group in groups.items()) + "."


def verdicts(comparison: Comparison, names: Sequence[str]) -> list[Verdict]:
    """Each criterion's winners and its sentence; `names` in column order."""
    measured = [_measure(comparison, c) for c in criteria(comparison)]
    return [Verdict(v.criterion, v.values, v.shown, v.winners,
                    _sentence(v, measured, names)) for v in measured]


def headline(found: Sequence[Verdict], names: Sequence[str]) -> str:
    """The whole in a sentence or two: who leads on most criteria, and at what price."""
    decided = [v for v in found if v.decided]
    if len(names) < 2:
        return "One policy alone: give another with --policy to see which is better."
    if not decided:
        return ("The policies do not differ on cost, privacy between users, interrupts or "
                "history over this window: choose on what they do.")
    wins: dict[int, list[str]] = {}
    for verdict in decided:
        for i in verdict.winners:
            wins.setdefault(i, []).append(verdict.criterion.title.lower())
    top = max(len(w) for w in wins.values())
    leaders = [i for i, w in wins.items() if len(w) == top]
    if len(leaders) > 1:
        leads = "; ".join(f"{names[i]} on {_names(w)}" for i, w in sorted(wins.items()))
        return (f"No policy leads on most criteria. Best: {leads}. "
                "Choose by the criterion that matters most to you.")
    leader = leaders[0]
    if top == len(decided):
        return (f"{names[leader]} is best on every criterion that tells the policies apart "
                f"({_names(wins[leader])}).")
    prices = [f"it {v.criterion.worse[0].format(v=v.shown[leader])}, where "
              f"{_names([names[i] for i in v.winners])} {_best(v, len(v.winners) > 1)}"
              for v in decided if leader not in v.winners]
    apart = " that tell the policies apart" if len(decided) < len(found) else ""
    return (f"{names[leader]} is best on {top} of {len(decided)} criteria{apart} "
            f"({_names(wins[leader])}). The price: {'; '.join(prices)}.")


def same_numbers(comparison: Comparison, names: Sequence[str]) -> list[str]:
    """Sentences for policies that show the same value as another on every row."""
    rows = comparison_rows(comparison)
    columns = [tuple(values[i] for _, values in rows) for i in range(len(names))]
    notes, seen = [], set()
    for i, column in enumerate(columns):
        twins = [j for j in range(i + 1, len(columns)) if columns[j] == column and j not in seen]
        if twins:
            seen.update(twins)
            notes.append(f"{_names([names[j] for j in twins])} "
                         f"{'shows' if len(twins) == 1 else 'show'} the same numbers as "
                         f"{names[i]} on every row.")
    return notes
