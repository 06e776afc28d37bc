"""`convlog report`: the comparison and its charts as one self-contained HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path

from projections.simulate import Comparison, Prices
from workers.bootstrap import App, bootstrap
from workers.cli.output import console, plain
from workers.cli.simulate import add_comparison_arguments, refuse_leaks, run_comparison
from workers.tools.html_report.files import Collector, write_atomically
from workers.tools.html_report.html import render


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = verbs.add_parser("report")
    add_comparison_arguments(report)
    report.add_argument("-o", "--output", required=True, metavar="HTML",
                        help="where to write the report (an .html file)")
    report.set_defaults(handler=run_report)


def build_report(app: App, args: argparse.Namespace) -> tuple[Comparison, str]:
    """The comparison the options ask for, and the page that shows it."""
    collect = Collector(Prices(args.price_write, args.price_read, args.currency))
    comparison = run_comparison(app, args, on_measured=collect)
    return comparison, render(comparison, collect.series,
                              described=collect.with_files(comparison, args.policy))


def run_report(args: argparse.Namespace) -> int:
    app = bootstrap()
    comparison, page = build_report(app, args)
    path = Path(args.output)
    write_atomically(path, page)
    console.print(plain(f"wrote {path} ({len(page.encode()):,} bytes; open it in a browser, "
                        "it needs no network)"))
    refuse_leaks(comparison)
    return 0
