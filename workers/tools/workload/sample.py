"""The small, hand-checked sample workload shipped in the package (data/sample.jsonl)."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_PACKAGE = "workers.tools.workload"
_NAME = "sample.jsonl"


def _resource() -> Traversable:
    try:
        return files(_PACKAGE).joinpath("data", _NAME)
    except NotADirectoryError:
        # Python 3.11 cannot open a namespace package whose path holds an editable-install hook.
        return Path(__file__).with_name("data").joinpath(_NAME)


def sample_path() -> Path:
    """The sample's path on disk."""
    resource = _resource()
    if not isinstance(resource, Path):
        raise FileNotFoundError(
            f"{_PACKAGE}: data/{_NAME} is not a file on disk; use sample_text()")
    return resource


def sample_text() -> str:
    """The sample's JSONL text, wherever the package lives."""
    return _resource().read_text(encoding="utf-8")
