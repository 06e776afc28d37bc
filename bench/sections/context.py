"""Context: context call latency on one-chat sessions of growing size, same budget."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench.harness import BATCH, Bench, ensure_loaded, ensure_main_projection, log, percentile, rate
from eventlog.ingest import ingest_lines
from projections.context import ContextAssembler

CONTEXT_TARGETS = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1M": 1_000_000}
CONTEXT_AGENT = "ctxbench"
_CONTEXT_TEXTS = (
    "Can you check why the nightly export failed again? It stopped at the invoices table.",
    "The export ran out of disk on the worker; I cleared the cache and restarted it.",
    "ok thanks, and could you also summarise what changed in the billing module this week?",
    "Three changes: rounding of VAT per line, a retry on the payment webhook, and new logs.",
    "Does the retry respect the idempotency key, or can a customer be charged twice?",
    "It reuses the key from the first attempt, so the provider deduplicates the charge.",
)


def context_lines(size: int, chat: str) -> Iterator[bytes]:
    """A session of `size` events in one chat: questions and the agent's replies."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    address = {"agent": CONTEXT_AGENT, "platform": "discord", "space": "bench",
               "chat": chat, "chat_type": "group"}
    for i in range(size):
        at = (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        body = f"{_CONTEXT_TEXTS[i % len(_CONTEXT_TEXTS)]} (#{i})"
        if i % 2 == 0:
            event = {"type": "message.received", "sender": f"u{i % 7}",
                     "sender_name": f"user {i % 7}", "message_id": f"m{i}"}
        else:
            event = {"type": "message.sent", "sender": "bot", "message_id": f"m{i}",
                     "reply_to": f"m{i - 1}"}
        yield json.dumps({**address, **event, "occurred_at": at, "text": body}).encode()


def context_sizes(n: int) -> dict[str, int]:
    """Session sizes by label, scaled down to N; labels sharing a size keep the first."""
    sizes: dict[str, int] = {}
    for label, target in CONTEXT_TARGETS.items():
        size = min(target, n)
        if size not in sizes.values():
            sizes[label] = size
    return sizes


def measure(bench: Bench) -> dict[str, Any]:
    """Context call latency on one-chat sessions of growing size, same budget."""
    ensure_loaded(bench)
    sizes = context_sizes(bench.n)
    for size in sizes.values():
        ingest_lines(bench.store, context_lines(size, f"ctx-{size}"), batch_size=BATCH)
        log(f"  appended a {size:,}-event session")
    name, result, seconds = ensure_main_projection(bench)
    log(f"  projected {result.events:,} events at {rate(result.events, seconds):,.0f}/s")
    pid = bench.projection_id(name)
    sessions = {label: context_session(bench, pid, f"ctx-{size}")
                for label, size in sizes.items()}
    latencies = call_latencies(bench, pid, sessions)
    figures: dict[str, Any] = {"budget": bench.args.context_budget,
                               "calls": bench.args.context_calls, "sizes": {}}
    for label, size in sizes.items():
        samples = latencies[label]
        figures["sizes"][label] = {
            "events": size, "members": sessions[label][1],
            "p50_ms": percentile(samples, 50) * 1e3, "p99_ms": percentile(samples, 99) * 1e3,
            "mean_ms": sum(samples) / len(samples) * 1e3}
    by_size = figures["sizes"]
    largest, smallest = max(sizes, key=sizes.__getitem__), min(sizes, key=sizes.__getitem__)
    ten_k = "10k" if "10k" in by_size else smallest
    figures["largest"], figures["smallest"], figures["reference"] = largest, smallest, ten_k
    figures["ratio_p99_vs_10k"] = by_size[largest]["p99_ms"] / by_size[ten_k]["p99_ms"]
    figures["ratio_p99_vs_smallest"] = by_size[largest]["p99_ms"] / by_size[smallest]["p99_ms"]
    figures["projection_events_per_s"] = rate(result.events, seconds)
    return figures


def context_session(bench: Bench, pid: int, chat: str) -> tuple[uuid.UUID, int]:
    with bench.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT session_id, message_count FROM sessions WHERE projection_id = :p "
            "AND agent = :a AND :chat = ANY(chats) ORDER BY message_count DESC LIMIT 1"),
            {"p": pid, "a": CONTEXT_AGENT, "chat": chat}).one()
    return row.session_id, int(row.message_count)


def call_latencies(bench: Bench, pid: int, sessions: dict[str, tuple[uuid.UUID, int]]
                   ) -> dict[str, list[float]]:
    """Round-robin over the sessions so noise falls on every size alike."""
    assembler = ContextAssembler(bench.counter)
    budget = bench.args.context_budget
    latencies: dict[str, list[float]] = {label: [] for label in sessions}
    with bench.engine.connect() as conn:
        for call in range(bench.args.context_calls + 5):
            for label, (session_id, _) in sessions.items():
                started = time.perf_counter()
                assembler.assemble(conn, pid, session_id, budget=budget)
                elapsed = time.perf_counter() - started
                conn.rollback()
                if call >= 5:  # the first calls warm caches and plans
                    latencies[label].append(elapsed)
    return latencies
