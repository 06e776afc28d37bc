"""The generated workload written out as JSON Lines, in chunks."""

from __future__ import annotations

import json
from typing import TextIO

from workers.tools.workload.generator import generate


def write_jsonl(n: int, seed: int, stream: TextIO, *, chunk: int = 2_000) -> int:
    """Write `generate(n, seed)` to `stream` as JSON Lines; returns the number written."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines: list[str] = []
    written = 0
    for event in generate(n, seed):
        lines.append(dumps(event))
        if len(lines) == chunk:
            stream.write("\n".join(lines) + "\n")
            written += len(lines)
            lines.clear()
    if lines:
        stream.write("\n".join(lines) + "\n")
        written += len(lines)
    return written
