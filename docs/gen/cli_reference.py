"""The CLI reference page, written from the parser `convlog` itself builds.

`build_parser()` registers every verb, as `convlog VERB --help` does for one; each
verb (and each sub-verb) becomes a section with its usage and a table of its
arguments, the help lines and defaults exactly as `--help` words them. The docs'
hook (`docs/gen/hooks.py`) serves the result as `reference/cli.md`; run this file
to print it: `python docs/gen/cli_reference.py`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
USAGE_WIDTH = 88  # argparse wraps usage to the terminal; the page uses a fixed width

_PERCENT = re.compile(r"%(?!\()")


def _parser() -> argparse.ArgumentParser:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from workers.cli.main import build_parser

    return build_parser()


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    make: Any = parser.formatter_class  # typeshed's protocol for it knows only `prog`
    formatter: argparse.HelpFormatter = make(prog=parser.prog, width=USAGE_WIDTH)
    return formatter


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = _formatter(parser)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _help(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    """The help line as `--help` prints it, defaults and choices filled in."""
    try:
        return formatter._expand_help(action)
    except (ValueError, TypeError, KeyError):
        # A lone `%` in a help line ("50%") breaks argparse's own expansion (and so
        # `--help`); show the line as written, its `%(name)s` fields still filled in.
        text = _PERCENT.sub("%%", formatter._get_help_string(action) or "")
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        params["prog"] = formatter._prog
        if params.get("choices") is not None:
            params["choices"] = ", ".join(str(c) for c in params["choices"])
        return text % params


def _cell(text: str) -> str:
    """Plain text as one Markdown table cell: nothing in it is read as markup."""
    text = " ".join(text.split())
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text


def _code_cell(text: str) -> str:
    return "<code>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(
        ">", "&gt;").replace("|", "&#124;") + "</code>"


def _subverbs(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def _arguments(parser: argparse.ArgumentParser, *, with_help: bool = False) -> list[str]:
    formatter = _formatter(parser)
    lines: list[str] = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help is not argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction)
                   and (with_help or not isinstance(a, argparse._HelpAction))]
        if not actions:
            continue
        lines += ["", f"*{_cell(group.title or 'arguments')}*", "",
                  "| argument | what |", "| --- | --- |"]
        for action in actions:
            invocation = formatter._format_action_invocation(action)
            required = " (required)" if action.required and action.option_strings else ""
            lines.append(f"| {_code_cell(invocation)} | {_cell(_help(formatter, action))}"
                         f"{required} |")
    return lines


def _section(parser: argparse.ArgumentParser, help_line: str, level: int) -> list[str]:
    lines = ["", "#" * level + f" `{parser.prog}`", ""]
    if help_line:
        lines += [_cell(help_line[0].upper() + help_line[1:]) + ".", ""]
    if parser.description:
        lines += [_cell(parser.description), ""]
    lines += ["```text", _usage(parser), "```"]
    lines += _arguments(parser)
    if parser.epilog:
        lines += ["", _cell(parser.epilog)]
    for _name, sub_help, sub in _subverbs(parser):
        lines += _section(sub, sub_help, min(level + 1, 6))
    return lines


def render() -> str:
    parser = _parser()
    lines = [
        "# CLI reference",
        "",
        "Every verb of `convlog`, with its usage and arguments as `convlog VERB --help` "
        "prints them. This page is generated from the command's own argument parser when "
        "the site is built, so it matches the code it was built from; a default that "
        "depends on the machine (`serve --workers`) shows the building machine's. What "
        "each exit status means is in [Exit codes](../exit-codes.md).",
        "",
        "```text",
        _usage(parser),
        "```",
    ]
    lines += _arguments(parser, with_help=True)
    lines += ["", "Every verb and sub-verb takes `-h`/`--help` as well.",
              "", "| verb | what |", "| --- | --- |"]
    for name, help_line, sub in _subverbs(parser):
        anchor = sub.prog.replace(" ", "-")
        lines.append(f"| [`{name}`](#{anchor}) | {_cell(help_line)} |")
    for _name, help_line, sub in _subverbs(parser):
        lines += _section(sub, help_line, 2)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
