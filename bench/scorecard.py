"""The run's report: machine and server, the targets, and its JSON and markdown outputs."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.harness import BATCH, ROOT, Bench, log
from bench.sections.eventsourcing import ES_BATCH

Row = list[str]


def server_info(conninfo: str) -> dict[str, Any]:
    names = ("shared_buffers", "synchronous_commit", "fsync", "full_page_writes", "wal_level",
             "max_wal_size", "work_mem", "checkpoint_timeout")
    settings: dict[str, str] = {}
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT version()").fetchone()
        for name in names:
            shown = conn.execute(f"SHOW {name}").fetchone()
            settings[name] = shown[0] if shown else "?"
    return {"version": row[0] if row else "?", "settings": settings}


def machine_info() -> dict[str, Any]:
    import psutil

    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A figure's bar (what must hold) and goal (what the project aims beyond it)."""

    name: str
    value: float | None
    goal: str  # as shown: the bar, and the goal beyond it when there is one
    met: bool | None  # the bar
    goal_met: bool | None = None


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _least(values: Any) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float)]
    return min(numbers) if numbers else None


def targets(results: dict[str, Any]) -> list[Target]:
    """The targets of the project (bar, goal), read from the run's figures."""

    def check(name: str, value: Any, shown: str, bar: Callable[[float], bool],
              goal: Callable[[float], bool] | None = None) -> Target:
        if not isinstance(value, int | float):
            return Target(name, None, shown, None)
        v = float(value)
        return Target(name, v, shown, bar(v), goal(v) if goal is not None else None)

    counters = _get(results, "tokens", "counters") or {}
    return [
        check("ingest / raw COPY", _get(results, "ingest", "ratio"), "≥ 0.50 (goal ≥ 0.75)",
              lambda v: v >= 0.5, lambda v: v >= 0.75),
        check("ingest / binary COPY into events and event_content",
              _get(results, "ingest", "ratio_log"), "≥ 0.50 (goal ≥ 0.75)",
              lambda v: v >= 0.5, lambda v: v >= 0.75),
        check("token counting / tiktoken loop, per core",
              _least(c.get("speedup") for c in counters.values()), "≥ 1.5 (goal ≥ 2)",
              lambda v: v >= 1.5, lambda v: v >= 2),
        check("rebuild / SQL window", _get(results, "rebuild", "ratio"),
              "≥ 0.40 at 1M (goal ≥ 0.80)", lambda v: v >= 0.4, lambda v: v >= 0.8),
        check("per-user projection create / the write limit",
              _get(results, "rebuild", "per_user_ratio"), "≥ 0.50 (goal ≥ 0.80)",
              lambda v: v >= 0.5, lambda v: v >= 0.8),
        check("rebuild, 2 workers / 1", _get(results, "workers", "speedup"), "≥ 1.8",
              lambda v: v >= 1.8),
        check("context p99 largest / 10k", _get(results, "context", "ratio_p99_vs_10k"),
              "≤ 1.1", lambda v: v <= 1.1),
        check("context p99 from the replica / from the primary",
              _get(results, "replica", "ratio_p99_worst"), "≤ 1.2 (goal ≤ 1.1)",
              lambda v: v <= 1.2, lambda v: v <= 1.1),
        check("projector peak RSS N / 100k", _get(results, "memory", "ratio"),
              "0.80–1.20", lambda v: 0.8 <= v <= 1.2),
        check("ingest / eventsourcing batched", _get(results, "eventsourcing",
                                                     "ratio_batched"), "≥ 1.5 (goal ≥ 2.5)",
              lambda v: v >= 1.5, lambda v: v >= 2.5),
        check("simulate 2 policies / 1 rebuild", _get(results, "simulate", "simulate", "ratio"),
              "≤ 1 (goal ≤ 0.5)", lambda v: v <= 1, lambda v: v <= 0.5),
        check("export parquet / COPY TO", _get(results, "simulate", "export", "ratio"),
              "≥ 0.50", lambda v: v >= 0.5),
        check("export peak RSS N / 100k", _get(results, "simulate", "memory", "ratio"),
              "0.80–1.20", lambda v: 0.8 <= v <= 1.2),
        check("turn p50, one client / least work", _get(results, "http", "turns",
                                                        "ratio_solo_p50_vs_reference"),
              "≤ 5 (goal ≤ 2)", lambda v: v <= 5, lambda v: v <= 2),
        check("turns/s, 32 clients / least work", _get(results, "http", "turns",
                                                      "ratio_turns_per_s_vs_reference"),
              "≥ 0.25 (goal ≥ 0.5)", lambda v: v >= 0.25, lambda v: v >= 0.5),
        check("batched append over HTTP / in process", _get(results, "http", "ratio_batched"),
              "≥ 0.8 (goal ≥ 0.9)", lambda v: v >= 0.8, lambda v: v >= 0.9),
        check("catch-up lag max at half the ingest ceiling, s",
              _get(results, "lag", "lag_seconds_max"), "< 1 s (goal < 0.25 s)",
              lambda v: v < 1, lambda v: v < 0.25),
    ]


def build_report(bench: Bench, started_at: datetime, argv: Sequence[str]) -> dict[str, Any]:
    """The whole result; asks the server for its settings, so before the database goes."""
    return {
        "date": started_at.isoformat(timespec="seconds"),
        "command": "python -m bench.run " + " ".join(argv),
        "events": bench.n, "seed": bench.args.seed, "batch_size": BATCH,
        "machine": machine_info(), "postgres": server_info(bench.conninfo),
        "sections": bench.results,
        "targets": [t.__dict__ for t in targets(bench.results)],
    }


# -- markdown -----------------------------------------------------------------------------


def _n(value: Any, digits: int = 0) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:,.{digits}f}"


def _status(met: bool | None, goal_met: bool | None = None) -> str:
    if met is None:
        return "—"
    if not met:
        return "**missed**"
    return "met, goal met" if goal_met else "met"


def markdown(report: dict[str, Any]) -> str:
    machine, pg, s = report["machine"], report["postgres"], report["sections"]
    settings = ", ".join(f"{k}={v}" for k, v in pg["settings"].items())
    goals = {t["name"]: t for t in report["targets"]}
    lines = [
        f"\n### {report['date']} — {report['events']:,} events (seed {report['seed']})\n",
        f"- machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_gb']} GB, {machine['platform']}, Python {machine['python']}",
        f"- PostgreSQL: {pg['version'].split(' on ')[0]}; {settings}",
        f"- command: `{report['command']}`\n",
        "| figure | convlog | reference | ratio | target | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in table_rows(s, goals):
        lines.append("| " + " | ".join(row) + " |")
    failed = [f"- {name}: {r['error']}" for name, r in s.items() if r.get("status") == "failed"]
    if failed:
        lines += ["", "Failed sections:", *failed]
    return "\n".join(lines) + "\n"


def table_rows(s: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, render in ROW_RENDERERS:
        result = s.get(name)
        if result is None:
            continue
        if result.get("status") == "failed":
            rows.append([name, f"failed: {result['error'][:80]}", "", "", "", ""])
            continue
        rows.extend(render(result, goals))
    return rows


def _goal(goals: dict[str, Any], name: str) -> tuple[str, str]:
    target = goals.get(name, {})
    return target.get("goal", "—"), _status(target.get("met"), target.get("goal_met"))


def rows_ingest(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [
        ["ingest, events/s", _n(r["convlog_events_per_s"]),
         f"raw COPY {_n(r['copy_events_per_s'])}", _n(r["ratio"], 2),
         *_goal(goals, "ingest / raw COPY")],
        ["ingest, events/s (informative)", _n(r["convlog_events_per_s"]),
         f"COPY + unique event_id {_n(r['copy_unique_events_per_s'])}",
         _n(r["ratio_unique"], 2), "—", "—"],
        *([["ingest, events/s", _n(r["convlog_events_per_s"]),
             f"binary COPY into events + event_content {_n(r['copy_log_events_per_s'])}",
             _n(r["ratio_log"], 2),
             *_goal(goals, "ingest / binary COPY into events and event_content")]]
          if r.get("ratio_log") is not None else []),
        ["prepare alone (parse, ids, digests; no tokens), events/s",
         _n(r["prepare_events_per_s"]),
         "—", "—", "—", "—"],
    ]


def rows_tokens(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    least = min(r["counters"], key=lambda e: r["counters"][e]["speedup"], default=None)
    rows = [[f"token counting, {encoding}, events/s on one core (totals equal)",
             f"bpe-openai {_n(c['fast_events_per_s'])}",
             f"tiktoken encode_ordinary {_n(c['tiktoken_events_per_s'])}", _n(c["speedup"], 2),
             *(_goal(goals, "token counting / tiktoken loop, per core") if encoding == least
               else ("—", "—"))] for encoding, c in r["counters"].items()]
    one, two = r["bulk"]["1"], r["bulk"]["2"]
    rows.append([f"bulk counter over the log ({r['bulk_encoding']}), 2 processes vs 1, "
                 "events/s (pool already started)",
                 f"{_n(two['events_per_s'])} ({_n(two.get('steady_events_per_s'))})",
                 f"1 process {_n(one['events_per_s'])}", _n(r["bulk_speedup"], 2), "—", "—"])
    return rows


def rows_rebuild(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    rows = [["rebuild, events/s (default policy)", _n(r["projector_events_per_s"]),
             f"SQL window {_n(r['sql_events_per_s'])}", _n(r["ratio"], 2),
             *_goal(goals, "rebuild / SQL window")]]
    if r.get("per_user_ratio") is not None:
        rows.append(["projection create, events/s (per-user policy)",
                     _n(r["per_user_events_per_s"]),
                     f"the write limit {_n(r['write_limit_events_per_s'])}",
                     _n(r["per_user_ratio"], 2),
                     *_goal(goals, "per-user projection create / the write limit")])
    return rows


def rows_workers(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    two = r.get("workers_2_events_per_s")
    return [["rebuild, 2 workers vs 1, events/s",
             _n(two) if two is not None else r.get("workers_2", "not available"),
             f"1 worker {_n(r.get('workers_1_events_per_s'))}", _n(r.get("speedup"), 2),
             *_goal(goals, "rebuild, 2 workers / 1")]]


def rows_memory(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    small, large = r["small"], r["large"]
    return [[f"projector peak RSS, MiB, at {small['events']:,} / {large['events']:,} events",
             f"{small['peak_rss'] / 2**20:.0f} / {large['peak_rss'] / 2**20:.0f}",
             f"growth over baseline {(small['peak_rss'] - small['baseline_rss']) / 2**20:.0f}"
             f" / {(large['peak_rss'] - large['baseline_rss']) / 2**20:.0f}",
             _n(r["ratio"], 2), *_goal(goals, "projector peak RSS N / 100k")]]


def rows_resolver(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [["resolver, events/s (one core, default policy)", _n(r["events_per_s"]), "—", "—",
             "—", "—"]]


def _es_figure(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"eventsourcing failed: {result['error'][:80]}"
    return f"eventsourcing {_n(result.get('events_per_s'))}"


def rows_eventsourcing(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    if r.get("status") == "not available":
        return [["eventsourcing", "not available", r.get("reason", ""), "", "", ""]]
    single, batched = r.get("single", {}), r.get("batched", {})
    ingest = r.get("convlog_ingest_events_per_s")
    return [
        [f"append one event per transaction, events/s ({single.get('events', 0):,} events)",
         _n(r["convlog_single"]["events_per_s"]), _es_figure(single),
         _n(r.get("ratio_single"), 2), "—", "—"],
        [f"batched append, events/s ({batched.get('events', 0):,} events, batches of "
         f"{ES_BATCH:,})", f"ingest {_n(ingest)}" if ingest else "ingest not run",
         _es_figure(batched), _n(r.get("ratio_batched"), 2),
         *_goal(goals, "ingest / eventsourcing batched")],
    ]


def rows_lag(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    return [[f"catch-up lag while appending {_n(r['append_events_per_s'])} events/s "
             f"for {r['seconds_target']} s (p50 / max)",
             f"{_n(r['lag_events_p50'])} / {_n(r['lag_events_max'])} events; "
             f"{r['lag_seconds_p50']:.2f} / {r['lag_seconds_max']:.2f} s", "—", "—",
             *_goal(goals, "catch-up lag max at half the ingest ceiling, s")]]


def rows_context(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    rows = [[f"context p50 / p99, ms, {v['events']:,}-event session (budget "
             f"{r['budget']:,})", f"{v['p50_ms']:.2f} / {v['p99_ms']:.2f}", "—", "—", "—", "—"]
            for v in r["sizes"].values()]
    big = r["sizes"][r["largest"]]["events"]
    ref = r["sizes"][r["reference"]]["events"]
    rows.append([f"context p99 at {big:,} vs {ref:,} events", "", "", _n(
        r["ratio_p99_vs_10k"], 2), *_goal(goals, "context p99 largest / 10k")])
    return rows


def rows_replica(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    if r.get("status") == "not available":
        return [["context from a hot standby", "not available", r.get("reason", "")[:80],
                 "", "", ""]]
    rows: list[Row] = []
    for v in r["sizes"].values():
        rows.append([f"context p50 / p99, ms, {v['events']:,}-event session, from a hot "
                     f"standby ({r['server']})",
                     f"{v['standby_p50_ms']:.2f} / {v['standby_p99_ms']:.2f}",
                     f"its primary {v['primary_p50_ms']:.2f} / {v['primary_p99_ms']:.2f}",
                     _n(v["ratio_p99"], 2), "—", "—"])
        rows.append([f"the same at a position (WAL position read, replay compared), "
                     f"{v['events']:,} events",
                     f"{v['standby_at_position_p50_ms']:.2f} / "
                     f"{v['standby_at_position_p99_ms']:.2f}", "the primary, as above",
                     _n(v["ratio_p99_at_position"], 2), "—", "—"])
    rows.append(["context p99 from the replica / from the primary (worst size)",
                 "", r.get("placement", "not pinned")[:80], _n(r["ratio_p99_worst"], 2),
                 *_goal(goals, "context p99 from the replica / from the primary")])
    return rows


def rows_search(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    b, t = r["build"], r["retention"]
    rows = [[f"search index build, rows/s ({b['rows']:,} messages)",
             _n(b["convlog_rows_per_s"]), f"CREATE INDEX USING gin {_n(b['gin_rows_per_s'])}",
             _n(b["ratio"], 2), "—", "—"]]
    rows += [[f"search p50 / p99, ms: {label} ({q['matches']:,} matches)",
              f"{q['p50_ms']:.1f} / {q['p99_ms']:.1f}",
              f"EXPLAIN ANALYZE {q['explain_p50_ms']:.1f}", "—", "p99 ≤ 50",
              _status(q["p99_ms"] <= 50)] for label, q in r["queries"].items()]
    rows.append(["retention run, contents erased/s", _n(t["retention_per_s"]),
                 f"erase --chat {_n(t['erase_per_s'])}", _n(t["ratio"], 2), "—", "—"])
    return rows


def rows_simulate(r: dict[str, Any], goals: dict[str, Any]) -> list[Row]:
    s, e, m = r["simulate"], r["export"], r["memory"]
    return [
        [f"simulate 2 policies + the main projection, s ({s['positions']:,} positions)",
         _n(s["simulate_seconds"], 1), f"one rebuild {_n(s['rebuild_seconds'], 1)}",
         _n(s["ratio"], 2), *_goal(goals, "simulate 2 policies / 1 rebuild")],
        [f"export parquet, rows/s ({e['rows']:,} rows)", _n(e["parquet_rows_per_s"]),
         f"COPY TO {_n(e['copy_rows_per_s'])}", _n(e["ratio"], 2),
         *_goal(goals, "export parquet / COPY TO")],
        [f"export peak RSS, MiB ({m['large']['rows']:,} vs {m['small']['rows']:,} rows)",
         _n(m["large"]["peak_rss"] / 2**20), _n(m["small"]["peak_rss"] / 2**20),
         _n(m["ratio"], 2), *_goal(goals, "export peak RSS N / 100k")],
    ]


ROW_RENDERERS: tuple[tuple[str, Callable[[dict[str, Any], dict[str, Any]], list[Row]]], ...] = (
    ("ingest", rows_ingest), ("tokens", rows_tokens), ("rebuild", rows_rebuild),
    ("workers", rows_workers),
    ("memory", rows_memory), ("resolver", rows_resolver),
    ("eventsourcing", rows_eventsourcing), ("lag", rows_lag), ("context", rows_context),
    ("replica", rows_replica),
    ("search", rows_search), ("simulate", rows_simulate),
)


# -- outputs ------------------------------------------------------------------------------


def write_outputs(report: dict[str, Any], args: argparse.Namespace) -> None:
    out = Path(args.out) if args.out else default_out(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {out}")
    if not args.no_markdown:
        with Path(args.markdown).open("a", encoding="utf-8") as md:
            md.write(markdown(report))
        log(f"appended a table to {args.markdown}")


def default_out(report: dict[str, Any]) -> Path:
    stamp = report["date"].replace(":", "").replace("+0000", "Z")
    return ROOT / "bench" / "results" / f"{stamp}-n{report['events']}.json"


def log_targets(report: dict[str, Any]) -> None:
    for target in report["targets"]:
        if target["value"] is not None:
            log(f"target {target['name']}: {target['value']:.2f} ({target['goal']}) "
                f"{_status(target['met'], target.get('goal_met')).strip('*')}")
