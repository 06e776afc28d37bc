"""The example policies that ship with convlog, by name: `--policy example:NAME` anywhere a
policy file is taken, and `convlog policy examples` to list them.

In a checkout they are the files of `examples/`; an installed wheel carries the same
files as the package `projections.policy.example_files` (setup.py maps the folder).
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

PREFIX = "example:"


def examples_dir() -> Path:
    """Where the example policies are: the installed copy, else the checkout's folder.
    (A folder of data, the package has no __init__: its spec names where it lies.)"""
    try:
        spec = find_spec("projections.policy.example_files")
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location)
        if any(path.glob("*.json")):
            return path
    return Path(__file__).resolve().parents[2] / "examples"


def example_names() -> list[str]:
    return sorted(path.stem for path in examples_dir().glob("*.json"))


def example_path(reference: str) -> Path | None:
    """The file `example:NAME` names, or None when `reference` is no example reference.
    A name that is no example is a FileNotFoundError naming the ones there are."""
    if not reference.startswith(PREFIX):
        return None
    name = reference[len(PREFIX):].removesuffix(".json")
    path = examples_dir() / f"{name}.json"
    if name not in example_names():  # only the shipped names: never a path elsewhere
        raise FileNotFoundError(f"no example policy {name!r}; the examples are "
                                f"{', '.join(example_names())} (`convlog policy examples`)")
    return path


def example_summaries() -> list[tuple[str, str]]:
    """(name, description) of every example, in name order."""
    found = []
    for name in example_names():
        data = json.loads((examples_dir() / f"{name}.json").read_text(encoding="utf-8"))
        found.append((name, str(data.get("description") or "")))
    return found
