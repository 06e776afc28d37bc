"""Policies side by side: build each candidate beside the log, measure all, drop them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine

from eventlog.store import EventStore
from projections.errors import ProjectionError
from projections.policy import Policy
from projections.registry import ProjectionInfo, get
from projections.resolver import compile_policy
from projections.simulate.candidates import build, checkpoint_of, temporary_projections
from projections.simulate.metrics import (
    interrupts,
    orphaned_sessions,
    session_sizes,
    turn_totals,
)
from projections.simulate.model import Comparison, Params, PolicyMetrics, Window
from projections.simulate.turns import build_turns

# Called with each measured projection, inside its transaction, while the working
# tables exist: the report reads its chart series there.
OnMeasured = Callable[[Connection, PolicyMetrics, Window], None]


@dataclass(frozen=True, slots=True)
class Subject:
    """A projection to measure: a candidate's temporary one, or an existing one."""

    label: str
    source: str
    projection_id: int
    policy: Policy


def zones(policy: Policy) -> list[tuple[str, str]]:
    """The (platform, chat) pairs the policy makes privacy zones."""
    return sorted(compile_policy(policy).tables.zones)


def measure(conn: Connection, subject: Subject, window: Window, params: Params, *,
            baseline: int | None, on_measured: OnMeasured | None = None) -> PolicyMetrics:
    """Every metric of one projection, in the caller's transaction (working tables included)."""
    budget = (params.budget if params.budget is not None
              else subject.policy.compaction.context_limit_tokens)
    build_turns(conn, subject.projection_id, window, budget=budget, zones=zones(subject.policy),
                cache_ttl_minutes=params.cache_ttl_minutes)
    sizes = session_sizes(conn, window, budget)
    totals = turn_totals(conn, window)
    orphans = None
    if baseline is not None and baseline != subject.projection_id:
        orphans = orphaned_sessions(conn, window, baseline=baseline)
    elif baseline is not None:
        orphans = 0
    metrics = PolicyMetrics(
        name=subject.label, source=subject.source, budget=budget, sessions=sizes.sessions,
        sessions_by_kind=sizes.by_kind, multi_chat_sessions=sizes.multi_chat,
        size_p50=sizes.p50, size_p95=sizes.p95, size_max=sizes.largest,
        over_budget=sizes.over_budget, crossings=sizes.crossings, turns=totals.turns,
        context_tokens=totals.context, cache_write_tokens=totals.cache_write,
        cache_read_tokens=totals.cache_read,
        cost=params.prices.cost(totals.cache_write, totals.cache_read),
        cross_user_tokens=totals.cross_user, interrupts=interrupts(conn, window),
        privacy_leak_tokens=totals.leak, orphaned_sessions=orphans,
    )
    if on_measured is not None:
        on_measured(conn, metrics, window)
    return metrics


def compare(engine: Engine, store: EventStore, policies: Sequence[tuple[str, Policy]],
            window: Window, params: Params, *, against: str | None = "active",
            workers: int = 1, on_measured: OnMeasured | None = None,
            on_built: Callable[[str], None] | None = None) -> Comparison:
    """Measure `policies` (and the projection `against`, unless None) over the same events.

    `against` is "active" for the active projection or a projection's name; the
    candidates' orphaned history is counted against it. Candidates are built
    into temporary projections that are dropped before this returns, whatever
    happens. Metrics cover positions up to the least checkpoint of everything
    compared (`window.upto` lowers it further when set below that). `workers`
    candidates are built, and as many projections measured, at once (each on
    connections of its own: the work is the server's).
    """
    for _, policy in policies:
        compile_policy(policy)  # refuses an unusable policy before anything is built
    base: ProjectionInfo | None = None
    if against is not None:
        with engine.connect() as conn:
            base = get(conn, None if against == "active" else against)
        build(engine, store, base.name)  # an ordinary catch-up, as a worker's tick does
    with temporary_projections(engine, store, list(policies), workers=workers) as candidates:
        if on_built is not None:
            for candidate in candidates:
                on_built(candidate.label)
        with engine.connect() as conn:
            checkpoints = [checkpoint_of(conn, c.projection) for c in candidates]
            taken = {base.name} if base is not None else set()
            subjects = [Subject(c.label if c.label not in taken else f"{c.label} (candidate)",
                                "candidate", c.projection_id, c.policy) for c in candidates]
            if base is not None:
                checkpoints.append(checkpoint_of(conn, base.name))
                subjects.insert(0, Subject(base.name, base.name, base.id, base.policy))
        if not subjects:
            raise ProjectionError("nothing to compare: give --policy FILE, or compare "
                                  "against a projection", code="NOTHING_TO_SIMULATE")
        upto = min(checkpoints)
        window = replace(window, upto=min(window.upto, upto) if window.upto else upto)

        def one(subject: Subject) -> PolicyMetrics:
            with engine.begin() as conn:
                return measure(conn, subject, window, params,
                               baseline=base.id if base else None, on_measured=on_measured)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            columns = list(pool.map(one, subjects))
    return Comparison(window, params, tuple(columns), base.name if base else None)
