"""`convlog report` writes one self-contained page that headless Chromium draws, offline,
and that answers which policy to choose: a summary on top whose winners are the
simulation's own numbers, a table whose rows say which way is better, columns named
by what each policy does."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine

from eventlog.ingest import ingest_lines
from eventlog.store import EventStore
from tests.fixtures.projections import project
from tests.integration.chromium import chromium_path, load
from workers.cli.main import main
from workers.tools.workload import generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Two shipped examples by name, one by path: the tooltips show the file either way.
POLICIES = ("example:per-chat", "example:per-user-in-groups", str(EXAMPLES / "guild-wide.json"))
FILES = ("per-chat.json", "per-user-in-groups.json", "guild-wide.json")
CHARTS = ("growth-0", "growth-1", "growth-2", "growth-3", "sizes", "cost-per-day",
          "share-per-space", "top-sessions", "concentration", "cost-by")
# A request to anything but the page itself; namespaces (xmlns) are names, not requests.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)"""
                      r"""|url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)|@import""", re.I)
# How a sentence says a best value of 0.
ZERO = {"cost": "0.00 USD", "cross-user": "out of every context", "interrupts": "no turn",
        "orphans": "orphan none"}
FOLD = (1280, 800)  # a laptop's viewport: the summary must be read without scrolling
# The summary's criteria: the simulation's metric (its --json key), as the table shows it.
CRITERIA = {
    "cost": ("cost", lambda v: f"{v:,.2f} USD"),
    "cross-user": ("cross_user_share", lambda v: f"{v:.1%}"),
    "interrupts": ("interrupts", lambda v: f"{v:,}"),
    "orphans": ("orphaned_sessions", lambda v: f"{v:,}"),
}


def chromium_or_skip() -> str:
    found = chromium_path()
    if found is None:
        reason = "chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI needs chromium: {reason}")
        pytest.skip(reason)
    return found


def colored_pixels(image: Image.Image, box: tuple[float, float, float, float]) -> int:
    """Pixels in the box that are clearly coloured (data), not white, grey or black (axes)."""
    x, y, w, h = box
    crop = image.convert("RGB").crop((int(x), int(y), int(x + w), int(y + h)))
    raw = crop.tobytes()
    return sum(1 for i in range(0, len(raw), 3)
               if max(raw[i:i + 3]) - min(raw[i:i + 3]) > 60)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        found = [c for c in self.children
                 if c.tag == tag and all(c.attrs.get(k) == v for k, v in attrs.items())]
        for child in self.children:
            found += child.find(tag, **attrs)
        return found

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Tree(HTMLParser):
    """The page as a tree of elements with their text (enough to read tables back)."""

    VOID = {"meta", "br", "img", "hr", "link", "input", "path", "use", "rect", "circle"}

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.open = [self.root]
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for n in range(len(self.open) - 1, 0, -1):
            if self.open[n].tag == tag:
                del self.open[n:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open[1:]:
            element.text += data


def text(element: Element) -> str:
    return " ".join(element.text.split())


@dataclass
class Report:
    path: Path
    page: str
    tree: Element
    policies: list[dict[str, Any]]  # `convlog simulate --json`'s columns, same options
    names: list[str]


@pytest.fixture
def report(engine: Engine, store: EventStore, cli_env: str, tmp_path: Path,
           capsys: pytest.CaptureFixture[str]) -> Report:
    lines = (json.dumps(e).encode() for e in generate(3_000, seed=3))
    ingest_lines(store, lines)
    project(engine, store, "default")
    path = tmp_path / "report.html"
    options = [arg for policy in POLICIES for arg in ("--policy", policy)]
    assert main(["report", *options, "-o", str(path)]) == 0
    capsys.readouterr()
    assert main(["simulate", *options, "--json"]) == 0
    simulated = json.loads(capsys.readouterr().out)
    page = path.read_text(encoding="utf-8")
    names = [p["name"] if p["source"] == "candidate" else f"{p['name']} (now)"
             for p in simulated["policies"]]
    return Report(path, page, Tree(page).root, simulated["policies"], names)


def expected_winners(policies: list[dict[str, Any]], key: str,
                     show: Any) -> tuple[list[str], str]:
    """The columns whose shown value is the lowest, and that value; none when all show it."""
    shown = [show(p[key]) for p in policies]
    lowest = show(min(p[key] for p in policies))
    if len(set(shown)) == 1:
        return [], lowest
    return [p["name"] for p, s in zip(policies, shown, strict=True) if s == lowest], lowest


def test_the_report_is_one_file_with_no_script_and_no_reference_out(report: Report) -> None:
    page = report.page
    assert "<script" not in page.lower()
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    for chart in CHARTS:
        assert f'id="{chart}"' in page
    assert page.count("<svg") == len(CHARTS)


def test_the_summary_names_a_winner_per_criterion_with_the_simulations_numbers(
        report: Report) -> None:
    # Given the same comparison as `convlog simulate --json` prints it
    (summary,) = report.tree.find("section", id="summary")
    rows = {row.attrs["data-criterion"]: row for row in summary.find("tr")
            if "data-criterion" in row.attrs}
    # Then the summary has one row per criterion, in the report's order
    assert list(rows) == list(CRITERIA)
    wins: dict[str, int] = {}
    for criterion, (key, show) in CRITERIA.items():
        row = rows[criterion]
        winners, best = expected_winners(report.policies, key, show)
        # Each criterion has a winner on this log, the one the simulation's numbers give
        assert winners, (criterion, [p[key] for p in report.policies])
        assert json.loads(row.attrs["data-winners"]) == winners, criterion
        assert row.attrs["data-best"] == best, criterion
        # and the row names it and says the number, and what it gives up, in a sentence
        (why,) = row.find("td", **{"class": "why"})
        sentence = text(why)
        assert best in sentence or (best in ("0", "0.0%")
                                    and ZERO[criterion] in sentence), (criterion, sentence)
        for name in winners:
            handle = report.names[[p["name"] for p in report.policies].index(name)]
            assert handle in text(row), (criterion, handle, text(row))
        assert re.search(r"\b(but|and) (it|both|all \d+) ", sentence), sentence
        for name in winners:
            wins[name] = wins.get(name, 0) + 1
    # and the verdict on top names the policy that leads on most criteria
    leader = max(wins, key=lambda n: wins[n])
    assert list(wins.values()).count(wins[leader]) == 1, wins
    (verdict,) = summary.find("p", **{"class": "verdict"})
    assert text(verdict).startswith(f"{leader} is best on {wins[leader]} of 4 criteria"), \
        text(verdict)
    # On this log: one user's private session wins three, the policy in use keeps history
    assert leader == "per-user-in-groups"
    assert json.loads(rows["orphans"].attrs["data-winners"]) == ["default", "per-chat"]
    # and the two policies that group alike are said to show the same numbers
    assert "per-chat shows the same numbers as default (now) on every row." in text(summary)


def test_every_row_says_which_way_is_better_and_marks_the_best(report: Report) -> None:
    (table,) = report.tree.find("table", **{"class": "compare"})
    rows = [r for r in table.find("tr") if "data-metric" in r.attrs]
    assert len(rows) >= 18
    columns = len(report.policies)
    for row in rows:
        better = row.attrs["data-better"]
        assert better in ("lower", "higher", "neither"), row.attrs
        (label,) = row.find("th")
        (direction,) = [c for c in row.find("td") if "better" in c.classes()]
        assert text(direction).startswith(
            {"lower": "lower is better", "higher": "higher is better", "neither": "—"}[better])
        # the definition sits under the row's label
        assert label.find("small") and len(text(label.find("small")[0])) > 10, text(label)
        values = [c for c in row.find("td") if "better" not in c.classes()]
        assert len(values) == columns
        marked = [n for n, c in enumerate(values) if "best" in c.classes()]
        if better == "neither" or len({text(c) for c in values}) == 1:
            assert not marked, text(row)
        else:
            assert marked, text(row)
    by_metric = {r.attrs["data-metric"]: r for r in rows}
    for metric, key, show in (("rehydration cost", *CRITERIA["cost"]),
                              ("cross-user share", *CRITERIA["cross-user"]),
                              ("interrupt exposure (turns)", *CRITERIA["interrupts"])):
        winners, best = expected_winners(report.policies, key, show)
        cells = [c for c in by_metric[metric].find("td") if "better" not in c.classes()]
        assert [report.policies[n]["name"] for n, c in enumerate(cells)
                if "best" in c.classes()] == winners, metric
        assert all(text(c) == best for c in cells if "best" in c.classes())
    # money stays on one line
    assert "td { white-space: nowrap; }" in report.page


def test_columns_are_headed_by_what_the_policy_does_with_the_file_in_a_tooltip(
        report: Report) -> None:
    heads = [th for th in report.tree.find("th") if "policy-col" in th.classes()]
    assert [th.attrs["data-policy"] for th in heads] == [p["name"] for p in report.policies]
    now, *candidates = heads
    assert "projection default" in now.attrs["title"]
    for th, file in zip(candidates, FILES, strict=True):
        description = json.loads((EXAMPLES / file).read_text(encoding="utf-8"))["description"]
        assert text(th).startswith(description), (text(th), description)
        assert f"file: {file}" in th.attrs["title"], th.attrs


def test_chromium_draws_the_answer_above_the_fold_and_every_chart_offline(
        report: Report, tmp_path: Path) -> None:
    binary = chromium_or_skip()
    # When headless Chromium opens the file at a laptop's width, with no host resolving
    # and a dead proxy
    page = load(binary, report.path, selector="figure.chart svg, #summary", width=FOLD[0])
    # Then it asked for nothing but the file itself and ran no script of the page's
    assert page.requests == [report.path.resolve().as_uri()]
    assert not page.scripts_enabled
    shot = tmp_path / "report.png"
    shot.write_bytes(page.png)
    image = Image.open(shot)
    # And nothing is wider than the window (no column pushed off to the right)
    assert image.width == FOLD[0], image.size
    # And the whole summary is on the first screen
    x, y, w, h = page.boxes["summary"]
    assert y + h <= FOLD[1], page.boxes["summary"]
    assert x >= 0 and x + w <= FOLD[0]
    # And each chart's box holds drawn data
    assert set(CHARTS) <= set(page.boxes), page.boxes
    for chart in CHARTS:
        x, y, w, h = page.boxes[chart]
        assert w > 300 and h > 100, (chart, page.boxes[chart])
        assert y + h <= image.height, (chart, page.boxes[chart], image.size)
        assert colored_pixels(image, page.boxes[chart]) > 150, chart
    keep = os.environ.get("CONVLOG_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
