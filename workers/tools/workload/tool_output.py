"""Tool calls' output: a fixed corpus per tool (logs, test runs, code, grep), built once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import cache

from workers.tools.workload.vocabulary import (
    SENTENCES,
    SLOTS,
    Template,
    compile_all,
    compile_template,
)
from workers.tools.workload.world import START_MS


@cache
def tools() -> tuple[tuple[str, Template, str], ...]:
    """Tool names, call lines and an output corpus each, built once from a fixed seed."""
    rng = random.Random(20260105)
    return (
        ("bash", compile_template("$ {tool} logs {svc} --since 1h"), _log_corpus(rng)),
        ("run_tests", compile_template("$ pytest -q tests/ -k {svc}"), _test_corpus(rng)),
        ("read_file", compile_template("read {file}"), _code_corpus(rng)),
        ("grep", compile_template("$ grep -rn '{svc}' src/"), _grep_corpus(rng)),
    )


_CORPUS_CHARS = 120_000


def _corpus(rng: random.Random, line: Callable[[random.Random, int], str]) -> str:
    lines: list[str] = []
    size = 0
    while size < _CORPUS_CHARS:
        text = line(rng, len(lines))
        lines.append(text)
        size += len(text) + 1
    return "\n".join(lines)


def _log_corpus(rng: random.Random) -> str:
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    events = ("processed batch {} in {}ms", "GET /v1/sessions/{} 200 {}ms",
              "retrying webhook delivery attempt {} after {}ms",
              "checkpoint at position {} lag {}ms", "connection pool size={} waiting={}",
              "token budget {} of {} used")

    def line(rng: random.Random, index: int) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(START_MS // 1000 + index * 7))
        svc = rng.choice(SLOTS["svc"])
        message = rng.choice(events).format(rng.randrange(1, 99_999), rng.randrange(1, 2_000))
        return f"{stamp}Z {rng.choice(levels):5} {svc}[{rng.randrange(1, 9)}] {message}"

    return _corpus(rng, line)


def _test_corpus(rng: random.Random) -> str:
    def line(rng: random.Random, index: int) -> str:
        module = rng.choice(SLOTS["svc"])
        outcome = "FAILED" if rng.random() < 0.04 else "PASSED"
        return f"tests/unit/test_{module}.py::test_case_{index} {outcome} [{index % 100:3d}%]"

    return _corpus(rng, line)


def _code_corpus(rng: random.Random) -> str:
    shapes = ("def {}(self, key: str) -> Session | None:", "    return self._{}.get(key)",
              "    if {} is None:", "        raise LookupError({!r})", "class {}(Protocol):",
              "    # keep the checkpoint in the same transaction as {}", "", "import {}")

    def line(rng: random.Random, index: int) -> str:
        name = rng.choice(SLOTS["svc"]) + "_" + rng.choice(("store", "key", "batch", "state"))
        return f"{index + 1:5d}  " + rng.choice(shapes).format(name)

    return _corpus(rng, line)


def _grep_corpus(rng: random.Random) -> str:
    sentences = compile_all(SENTENCES)

    def line(rng: random.Random, index: int) -> str:
        fmt, kinds = rng.choice(sentences)
        text = fmt.format(*[rng.choice(SLOTS[kind]) for kind in kinds])
        return f"{rng.choice(SLOTS['file'])}:{rng.randrange(1, 900)}:    # {text}"

    return _corpus(rng, line)
