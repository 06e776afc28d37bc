"""Configuration files read within bounds: a size cap, a nesting cap checked before any
parser recurses, and YAML whose aliases cannot expand past a budget.

Policies, retention rules and gateways' configurations are small documents a person
writes; a file past these bounds is refused with a code (`CONFIG_TOO_LARGE`,
`CONFIG_TOO_DEEP`, `CONFIG_ALIASES`), never parsed until memory or the stack runs out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 4 * 2**20
MAX_DEPTH = 64  # levels of arrays and objects (mappings and sequences in YAML)
MAX_YAML_VALUES = 200_000  # values a YAML document may stand for once aliases are expanded


class ConfigBoundsError(Exception):
    """A configuration file past a bound; `code` names which."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def read_bounded(path: Path) -> str:
    """The file's UTF-8 text, refused past MAX_CONFIG_BYTES before it is read whole.
    OSError and UnicodeDecodeError propagate for the caller to name."""
    with path.open("rb") as file:
        data = file.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigBoundsError(f"{path} is over {MAX_CONFIG_BYTES // 2**20} MiB; a "
                                "configuration is a small file: check that this is the right "
                                "one", "CONFIG_TOO_LARGE")
    return data.decode("utf-8")


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse text whose brackets nest deeper than `limit`, outside quoted strings (JSON,
    JSON5 and flow-style YAML alike), before a recursive parser sees it. A first filter:
    comments and block-style YAML can hide nesting from it, so callers also turn a
    parser's RecursionError into CONFIG_TOO_DEEP."""
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise ConfigBoundsError(f"nested more than {limit} levels deep; a "
                                        "configuration never needs that", "CONFIG_TOO_DEEP")
        elif ch in "]}":
            depth = max(depth - 1, 0)


def load_yaml(text: str) -> Any:
    """YAML (JSON included) by the safe loader, refused when its nesting or its aliases'
    expansion passes the bounds (an alias bomb is a few lines that stand for billions)."""
    import yaml

    check_depth(text)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(str(error)) from None  # a syntax error, for the caller to name
    except RecursionError:  # block-style nesting has no brackets to count beforehand
        raise too_deep() from None
    _count_values(value)
    return value


def too_deep() -> ConfigBoundsError:
    return ConfigBoundsError(f"nested more than a parser can follow (over {MAX_DEPTH} levels "
                             "is refused); a configuration never needs that",
                             "CONFIG_TOO_DEEP")


def _count_values(value: Any) -> None:
    """Walk the loaded value as a reader of it would (shared nodes once per reference)."""
    budget = MAX_YAML_VALUES
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ConfigBoundsError(f"stands for more than {MAX_YAML_VALUES:,} values once its "
                                    "aliases are expanded; write it out without the aliases",
                                    "CONFIG_ALIASES")
        if depth > MAX_DEPTH:
            raise ConfigBoundsError(f"nested more than {MAX_DEPTH} levels deep (through its "
                                    "aliases)", "CONFIG_TOO_DEEP")
        if isinstance(item, dict):
            stack.extend((inner, depth + 1) for pair in item.items() for inner in pair)
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
