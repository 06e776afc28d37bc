"""Configuration files past their bounds are refused with a code, never parsed until the
stack or memory runs out: an alias bomb, 100,000 levels of nesting, a huge file."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlog.config_text import MAX_CONFIG_BYTES, ConfigBoundsError, check_depth, load_yaml
from workers.cli.main import main

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x, x]"]
                 + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]"
                    for i in range(9)]
                 + ["session: *j"]) + "\n"
DEEP = "[" * 100_000 + "]" * 100_000


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_an_alias_bomb_is_refused_by_its_expansion(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BOMB, encoding="utf-8")  # ten levels of ten aliases: 10**10 values
    status, out = run(capsys, "policy", "convert", "--from", "hermes", str(config))
    assert status == 2 and "[CONFIG_ALIASES]" in out
    # while a few aliases, as people use them, are read
    assert load_yaml("base: &b {x: 1}\none: *b\ntwo: *b\n") == {
        "base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1}}


@pytest.mark.parametrize("argv", [
    ("policy", "check"), ("policy", "convert", "--from", "openclaw"),
    ("policy", "convert", "--from", "picoclaw"), ("retention", "plan", "--rules")])
def test_deep_nesting_is_refused_with_a_code_not_a_crash(
        argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP, encoding="utf-8")
    status, out = run(capsys, *argv, str(deep))
    assert status in (1, 2) and "CONFIG_TOO_DEEP" in out and "Traceback" not in out


@pytest.mark.parametrize(("gateway", "text"), [
    ("hermes", "- " * 3000 + "x\n"),                      # block-style YAML: no brackets
    ("openclaw", "// it's a comment\n" + "[" * 5000 + "]" * 5000),  # a quote in a comment
    ("picoclaw", "a: '\\'\nb: " + "[" * 5000 + "]" * 5000 + "\n"),  # YAML's '\' string
])
def test_nesting_the_bracket_count_cannot_see_is_refused_too(
        gateway: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config"
    config.write_text(text, encoding="utf-8")
    status, out = run(capsys, "policy", "convert", "--from", gateway, str(config))
    assert status == 2 and "CONFIG_TOO_DEEP" in out and "Traceback" not in out


def test_a_huge_file_is_refused_before_it_is_read_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "policy.json"
    huge.write_text('{"name": "' + "x" * MAX_CONFIG_BYTES + '"}', encoding="utf-8")
    status, out = run(capsys, "policy", "check", str(huge))
    assert status == 1 and "CONFIG_TOO_LARGE" in out


def test_brackets_inside_strings_do_not_count() -> None:
    check_depth('{"text": "' + "[" * 1_000 + '"}')
    check_depth("{'json5': '" + "{" * 1_000 + "'}")
    with pytest.raises(ConfigBoundsError):
        check_depth("[" * 65)
