"""Token counting, off the append path: the fast exact counter vs tiktoken, and the bulk
counter of the workers with 1 and 2 processes over the loaded log."""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from sqlalchemy import text

from bench.harness import Bench, ensure_loaded, log, rate
from eventlog.tokens import KNOWN_ENCODINGS, TokenCounter, count_pending, get_encoding
from eventlog.tokens.bulk import warm_up
from workers.counting_pool import count_tokens

BULK_ENCODING = "cl100k_base"


def measure(bench: Bench) -> dict[str, Any]:
    """Events/s per core of each counter on the workload's texts; the bulk counter's rate."""
    texts = workload_texts(bench)
    counters = {encoding: counter_rates(encoding, texts) for encoding in KNOWN_ENCODINGS}
    for encoding, figures in counters.items():
        log(f"  {encoding}: bpe-openai {figures['fast_events_per_s']:,.0f} events/s, tiktoken "
            f"encode_ordinary {figures['tiktoken_events_per_s']:,.0f} events/s (one core)")
    ensure_loaded(bench)
    bulk = {str(processes): bulk_rate(bench, processes) for processes in (1, 2)}
    for processes, figures in bulk.items():
        log(f"  bulk counter, {processes} process(es): {figures['events_per_s']:,.0f} events/s"
            f" (pool already started: {figures['steady_events_per_s']:,.0f})")
    one, two = bulk["1"]["events_per_s"], bulk["2"]["events_per_s"]
    return {"events": len(texts), "counters": counters, "bulk_encoding": BULK_ENCODING,
            "bulk": bulk, "bulk_speedup": two / one if one else None}


def workload_texts(bench: Bench) -> list[str]:
    """The text of every workload event, as the counters see it ('' for none)."""
    with bench.jsonl.open("rb") as stream:
        return [str(json.loads(line).get("text") or "") for line in stream]


def counter_rates(encoding: str, texts: list[str]) -> dict[str, Any]:
    fast = TokenCounter(encoding, backend="bpe-openai")
    fast.count("warm up")  # loading the ranks is not counting
    started = time.perf_counter()
    fast_total = sum(fast.count_batch(texts))
    fast_seconds = time.perf_counter() - started
    encode = get_encoding(encoding).encode_ordinary
    encode("warm up")
    started = time.perf_counter()
    reference_total = sum(len(encode(value)) for value in texts)
    reference_seconds = time.perf_counter() - started
    if fast_total != reference_total:
        raise RuntimeError(f"{encoding}: bpe-openai counted {fast_total:,} tokens, tiktoken "
                           f"{reference_total:,}; the fast counter is not exact here")
    return {"tokens": reference_total, "totals_equal": True,
            "fast_events_per_s": rate(len(texts), fast_seconds), "fast_seconds": fast_seconds,
            "tiktoken_events_per_s": rate(len(texts), reference_seconds),
            "tiktoken_seconds": reference_seconds,
            "speedup": reference_seconds / fast_seconds if fast_seconds else None}


def bulk_rate(bench: Bench, processes: int) -> dict[str, Any]:
    """Count the whole log from nothing, as `convlog tokens count --processes N` does.

    The figure includes starting the processes; `steady_events_per_s` is the same
    count again on a pool already started and warmed up.
    """
    forget(bench)
    started = time.perf_counter()
    result = count_tokens(bench.engine, BULK_ENCODING, processes=processes)
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {"processes": processes, "rows": result.rows,
                               "seconds": seconds, "events_per_s": rate(result.rows, seconds)}
    if processes > 1:
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            list(pool.map(warm_up, [BULK_ENCODING] * processes))
            forget(bench)
            started = time.perf_counter()
            again = count_pending(bench.engine, BULK_ENCODING, executor=pool,
                                  processes=processes)
            seconds = time.perf_counter() - started
        figures["steady_events_per_s"] = rate(again.rows, seconds)
    else:
        figures["steady_events_per_s"] = figures["events_per_s"]
    return figures


def forget(bench: Bench) -> None:
    """Drop the encoding's counts, so that the next count starts from nothing."""
    with bench.engine.begin() as conn:
        conn.execute(text("DELETE FROM token_counts WHERE encoding = :e"), {"e": BULK_ENCODING})
        conn.execute(text("DELETE FROM token_watermarks WHERE encoding = :e"),
                     {"e": BULK_ENCODING})
    with bench.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE token_counts"))
