"""The command line: one table of verbs, each verb importing only its own module, every
option with a help line, and `--version`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from workers.cli.main import VERBS, build_parser, installed_version, main

HEAVY = ("fastapi", "uvicorn", "matplotlib", "pyarrow", "psycopg", "sqlalchemy", "dramatiq")


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def test_every_verb_of_the_table_is_registered_by_its_module_with_its_help() -> None:
    full = subparsers(build_parser())
    assert list(full) == list(VERBS)
    for verb, (_, help_text) in VERBS.items():
        alone = subparsers(build_parser(verb))
        assert verb in alone, f"{verb} is not registered by the module VERBS names"
        listed = {action.dest: action.help for action in build_parser()._subparsers
                  ._group_actions[0]._choices_actions}  # type: ignore[union-attr]
        assert listed[verb] == help_text


def test_every_option_has_a_help_line() -> None:
    missing = [f"{path} {action.option_strings or action.dest}"
               for path, action in walk(build_parser(), "convlog") if not action.help]
    assert not missing, f"options without help: {missing}"


def test_help_lines_show_defaults() -> None:
    help_text = subparsers(build_parser())["context"].format_help()
    assert "(default: 8000)" in help_text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"convlog {installed_version()}"


def imported_by(*argv: str) -> set[str]:
    """Which heavy packages a fresh interpreter imports to run `convlog ARGV`."""
    code = (f"import sys, json\nfrom workers.cli.main import main\ntry:\n"
            f"    main({list(argv)!r})\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]), "
            f"file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_and_a_pure_resolve_import_no_server_chart_or_database_package() -> None:
    assert imported_by("--help") == set()
    # a verb that reads the database imports the driver, and nothing it does not use
    assert imported_by("context", "--help") <= {"psycopg", "sqlalchemy"}
    event = json.dumps({"type": "message.received", "agent": "main", "platform": "discord",
                        "chat": "1", "chat_type": "channel", "sender": "1"})
    assert imported_by("resolve", event, "--policy", "examples/guild-wide.json") == set()


def test_every_verb_and_subverb_prints_its_help() -> None:
    # argparse formats help lines with %: a stray one breaks that verb's --help only
    def helps(parser: argparse.ArgumentParser) -> Iterator[str]:
        yield parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from helps(sub)

    texts = list(helps(build_parser()))
    assert len(texts) > len(VERBS)
    assert all("usage:" in text for text in texts)
