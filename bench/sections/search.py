"""Search: index build rate vs a plain GIN build, query latency beside EXPLAIN ANALYZE, and
retention's erase rate vs `erase` (both rolled back: later sections see the whole log)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from bench.harness import Bench, ensure_main_projection, log, percentile, rate
from eventlog.search_index import index_pending, state
from projections.registry import get
from projections.searching import (
    DEFAULT_SPAN,
    DEFAULT_WINDOW,
    SearchFilter,
    search,
    window_statement,
)

CALLS = 50  # per query, after two warm-up calls
LIMIT = 20
# (label, query, filter): one-word queries of a rare, a middling and the commonest word
# of the workload, a phrase, and two filtered ones.
QUERIES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("one word, rare (econnreset)", "econnreset", {}),
    ("one word, middling (docker)", "docker", {}),
    ("one word, commonest (the)", "the", {}),
    ("phrase (\"docker compose\")", "\"docker compose\"", {}),
    ("filtered: word + busiest chat", "timeout", {"chat": ("discord", "1000000001")}),
    ("filtered: commonest word + quietest chat", "the", {"chat": None}),
    ("filtered: word + busiest sender + time", "error",
     {"sender": None, "since": datetime(2026, 1, 1, tzinfo=UTC)}),
)
RETENTION_CHAT = ("telegram", "31415926")  # erased by `erase --chat` for the reference


def measure(bench: Bench) -> dict[str, Any]:
    name, _, _ = ensure_main_projection(bench)
    figures: dict[str, Any] = {"window": DEFAULT_WINDOW, "calls": CALLS, "limit": LIMIT}
    figures["build"] = build_rates(bench)
    figures["queries"] = query_latencies(bench, name)
    figures["retention"] = retention_rates(bench)
    worst = max(q["p99_ms"] for q in figures["queries"].values())
    figures["p99_worst_ms"] = worst
    return figures


def build_rates(bench: Bench) -> dict[str, Any]:
    """The index from scratch through convlog_search_index vs CREATE INDEX … USING gin."""
    with bench.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_search_ref"))
        conn.execute(text(
            "CREATE TABLE bench_search_ref AS SELECT e.position, c.text FROM events e "
            "JOIN event_content c ON c.position = e.position WHERE c.text IS NOT NULL "
            "AND e.type IN ('message.received', 'message.sent', 'message.edited')"))
    rows = int(bench.scalar("SELECT count(*) FROM bench_search_ref"))
    log(f"  indexing {rows:,} message events")
    started = time.perf_counter()
    index_pending(bench.engine)
    convlog_seconds = time.perf_counter() - started
    with bench.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE search_documents"))
        started = time.perf_counter()
        conn.execute(text("CREATE INDEX bench_search_ref_gin ON bench_search_ref "
                          "USING gin (to_tsvector('simple', text))"))
        reference_seconds = time.perf_counter() - started
        conn.execute(text("DROP TABLE bench_search_ref"))
    indexed = int(bench.scalar("SELECT count(*) FROM search_documents"))
    convlog_rate = rate(rows, convlog_seconds)
    reference_rate = rate(rows, reference_seconds)
    log(f"  index build {convlog_rate:,.0f} rows/s vs plain GIN {reference_rate:,.0f} rows/s")
    return {"rows": rows, "indexed": indexed, "convlog_seconds": convlog_seconds,
            "convlog_rows_per_s": convlog_rate, "gin_seconds": reference_seconds,
            "gin_rows_per_s": reference_rate,
            "ratio": convlog_rate / reference_rate if reference_rate else None}


def _explain_ms(bench: Bench, projection_id: int, query: str, wanted: SearchFilter,
                ceiling: int) -> float:
    """PostgreSQL's own execution time for the page's ranking statement."""
    params: dict[str, Any] = {"config": "simple", "q": query, "p": projection_id}
    where = wanted.clauses(params)
    statement = "EXPLAIN (ANALYZE, FORMAT JSON) " + window_statement(where, keyset=False)
    with bench.engine.connect() as conn:
        plan = conn.execute(text(statement), {**params, "ceiling": ceiling,
                                              "window": DEFAULT_WINDOW, "span": DEFAULT_SPAN,
                                              "limit": LIMIT + 1,
                                              "after_rank": None, "after_position": None}
                            ).scalar_one()
    document = plan if isinstance(plan, list) else json.loads(plan)
    return float(document[0]["Execution Time"])


def query_latencies(bench: Bench, name: str) -> dict[str, Any]:
    with bench.engine.connect() as conn:
        info = get(conn, name)
        upto = state(conn).indexed_upto
    results: dict[str, Any] = {}
    with bench.engine.connect() as conn:
        busiest = tuple(conn.execute(text(
            "SELECT platform, sender FROM search_documents WHERE sender IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")).one())
        quietest = tuple(conn.execute(text(
            "SELECT platform, chat FROM search_documents WHERE chat IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY count(*), 1, 2 LIMIT 1")).one())
    for label, query, options in QUERIES:
        if options.get("sender", "") is None:
            options = {**options, "sender": busiest}
        if options.get("chat", "") is None:
            options = {**options, "chat": quietest}
        wanted = SearchFilter(**options)
        samples, hits = [], 0
        for call in range(CALLS + 2):
            started = time.perf_counter()
            with bench.engine.connect() as conn:
                page = search(conn, info, query, wanted, config="simple", indexed_upto=upto,
                              limit=LIMIT)
            if call >= 2:
                samples.append(time.perf_counter() - started)
            hits = len(page.hits)
        explained = [_explain_ms(bench, info.id, query, wanted, upto) for _ in range(5)]
        params: dict[str, Any] = {"config": "simple", "q": query, "p": info.id}
        where = wanted.clauses(params)
        matches = int(bench.scalar(
            "SELECT count(*) FROM search_documents s WHERE s.document @@ "
            f"websearch_to_tsquery(CAST(:config AS regconfig), :q){where}", **params))
        results[label] = {"query": query, "matches": matches, "hits": hits,
                          "p50_ms": percentile(samples, 50) * 1e3,
                          "p99_ms": percentile(samples, 99) * 1e3,
                          "explain_p50_ms": percentile(explained, 50)}
        log(f"  {label}: p50 {results[label]['p50_ms']:.1f} ms, p99 "
            f"{results[label]['p99_ms']:.1f} ms (EXPLAIN ANALYZE "
            f"{results[label]['explain_p50_ms']:.1f} ms, {matches:,} matches)")
    return results


def retention_rates(bench: Bench) -> dict[str, Any]:
    """One chat through convlog_erase, one platform through convlog_retain: contents/s.

    Both run in transactions that are rolled back, so the log keeps its content for
    the sections after this one; the work measured is the functions `convlog erase`
    and `convlog retention run` commit.
    """
    platform, chat = RETENTION_CHAT
    with bench.engine.connect() as conn:
        started = time.perf_counter()
        erased = conn.execute(text(
            "SELECT contents FROM convlog_erase('chat', :selector, CAST(:targets AS jsonb), "
            "'bench reference')"), {"selector": f"{platform}:{chat}", "targets": json.dumps(
                [{"platform": platform, "chat": chat}])}).scalar_one()
        erase_seconds = time.perf_counter() - started
        conn.rollback()
    rules = [{"name": "slack-now", "match": {"platform": "slack"}, "max_age_days": 0}]
    with bench.engine.connect() as conn:
        started = time.perf_counter()
        retained = conn.execute(text(
            "SELECT contents FROM convlog_retain(CAST(:rules AS jsonb), now(), 'cl100k_base', "
            "'bench', 'bench retention')"), {"rules": json.dumps(rules)}).scalar_one()
        retention_seconds = time.perf_counter() - started
        conn.rollback()
    erase_rate = rate(erased, erase_seconds)
    retention_rate = rate(retained, retention_seconds)
    log(f"  retention {retention_rate:,.0f} contents/s vs erase {erase_rate:,.0f}/s")
    return {"erase_contents": erased, "erase_seconds": erase_seconds,
            "erase_per_s": erase_rate, "retention_contents": retained,
            "retention_seconds": retention_seconds, "retention_per_s": retention_rate,
            "ratio": retention_rate / erase_rate if erase_rate else None}
