"""`convlog report` writes one self-contained page that headless Chromium draws, offline."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

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
CHARTS = ("growth-0", "growth-1", "growth-2", "sizes", "cost-per-day", "share-per-space",
          "top-sessions", "concentration", "cost-by")
# A request to anything but the page itself; namespaces (xmlns) are names, not requests.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)"""
                      r"""|url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)|@import""", re.I)


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


@pytest.fixture
def report(engine: Engine, store: EventStore, cli_env: str, tmp_path: Path) -> Path:
    lines = (json.dumps(e).encode() for e in generate(3_000, seed=3))
    ingest_lines(store, lines)
    project(engine, store, "default")
    path = tmp_path / "report.html"
    assert main(["report", "--policy", str(EXAMPLES / "guild-wide.json"), "--policy",
                 str(EXAMPLES / "per-user-in-groups.json"), "-o", str(path)]) == 0
    return path


def test_the_report_is_one_file_with_no_script_and_no_reference_out(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    for chart in CHARTS:
        assert f'id="{chart}"' in page
    assert page.count("<svg") == len(CHARTS)


def test_chromium_draws_every_chart_and_makes_no_request(report: Path, tmp_path: Path) -> None:
    binary = chromium_or_skip()
    # When headless Chromium opens the file with no host resolving and a dead proxy
    page = load(binary, report, selector="figure.chart svg")
    # Then it asked for nothing but the file itself and ran no script of the page's
    assert page.requests == [report.resolve().as_uri()]
    assert not page.scripts_enabled
    # And each chart's box holds drawn data
    shot = tmp_path / "report.png"
    shot.write_bytes(page.png)
    image = Image.open(shot)
    assert set(CHARTS) <= set(page.boxes), page.boxes
    for chart in CHARTS:
        x, y, w, h = page.boxes[chart]
        assert w > 300 and h > 100, (chart, page.boxes[chart])
        assert y + h <= image.height, (chart, page.boxes[chart], image.size)
        assert colored_pixels(image, page.boxes[chart]) > 150, chart
    keep = os.environ.get("CONVLOG_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
