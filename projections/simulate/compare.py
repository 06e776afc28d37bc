"""Policies side by side: one read of the log, every candidate decided in memory, all tallied.

The log is read once, in batches, up to one position (`Window.upto`): the
baseline projection's checkpoint, or the horizon without one. Each batch is
assigned by every candidate (`replay`), then fed to every policy's `Tally`
(`tally`), the baseline's sessions coming from its own tables. Nothing is
written but missing token counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, text

from eventlog.replica import Reads
from eventlog.schema import log_horizon
from eventlog.store import EventStore
from eventlog.tokens import ensure_counted
from projections.errors import ProjectionError
from projections.policy import Policy
from projections.projector.state import MEMBER_KINDS
from projections.registry import ProjectionInfo, get
from projections.resolver import compile_policy
from projections.simulate.candidates import build, drop_abandoned
from projections.simulate.model import Comparison, Params, PolicyMetrics, Window
from projections.simulate.replay import (
    Batch,
    Replay,
    Sessions,
    read_ahead,
    read_projection,
)
from projections.simulate.tally import Tally, nearest_rank


@dataclass
class Measured:
    """One compared policy: its sessions and what was counted over them."""

    label: str
    source: str  # "candidate", or the name of the projection measured
    policy: Policy
    encoding: str
    sessions: Sessions
    tally: Tally
    replay: Replay | None = None  # a candidate's in-memory decisions
    # The baseline's standing summaries: position -> (session number, covers, tokens).
    summaries: dict[int, tuple[int, int, int]] | None = None


# Called with each measured policy once the pass is over, in a transaction that
# sees the log as the pass did: the report reads its chart series there.
OnMeasured = Callable[[Connection, PolicyMetrics, Measured], None]


def zones(policy: Policy) -> list[tuple[str, str]]:
    """The (platform, chat) pairs the policy makes privacy zones."""
    return sorted(compile_policy(policy).tables.zones)


def budget_of(policy: Policy, params: Params) -> int:
    return params.budget if params.budget is not None \
        else policy.compaction.context_limit_tokens


def compare(engine: Engine, store: EventStore, policies: Sequence[tuple[str, Policy]],
            window: Window, params: Params, *, against: str | None = "active",
            on_measured: OnMeasured | None = None,
            on_built: Callable[[str], None] | None = None,
            reads: Reads | None = None) -> Comparison:
    """Measure `policies` (and the projection `against`, unless None) over the same events.

    `against` is "active" for the active projection or a projection's name; it is
    caught up first (an ordinary catch-up, as a worker's tick does), and the
    candidates' orphaned history is counted against it. Metrics cover positions up
    to its checkpoint (the horizon without one); `window.upto` lowers that when set.
    `on_built` is called with each candidate's label when its sessions are decided.
    What is written (the catch-up, missing token counts) goes to `engine`; the pass reads
    through `reads` (a hot standby once it has replayed those writes) when given.
    """
    compiled = [compile_policy(policy) for _, policy in policies]  # refuses unusable ones
    if not policies and against is None:
        raise ProjectionError("nothing to compare: give --policy FILE, or compare "
                              "against a projection", code="NOTHING_TO_SIMULATE")
    drop_abandoned(engine)  # an earlier release built candidates as projections
    base: ProjectionInfo | None = None
    if against is not None:
        with engine.connect() as conn:
            base = get(conn, None if against == "active" else against)
        build(engine, store, base.name)
    encodings = sorted({c.encoding for c in compiled}
                       | ({compile_policy(base.policy).encoding} if base else set()))
    with engine.begin() as conn:
        horizon = log_horizon(conn)
        for encoding in encodings:  # before the snapshot: counts others commit meanwhile
            ensure_counted(conn, encoding, horizon)
    source = reads.current() if reads is not None else engine
    with source.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
            conn.begin():
        upto = horizon
        if base is not None:
            base = get(conn, base.name)
            upto = min(upto, base.checkpoint)
        window = replace(window, upto=min(window.upto, upto) if window.upto else upto)
        measured: list[Measured] = []
        taken = {base.name} if base is not None else set()
        if base is not None:
            sessions, summaries = read_projection(conn, base.id, window.upto)
            measured.append(_subject(base.name, base.name, base.policy, sessions, window,
                                     params, summaries=summaries,
                                     series=on_measured is not None))
        for (label, policy), policy_compiled in zip(policies, compiled, strict=True):
            replay = Replay(policy_compiled, Sessions(window.upto))
            name = label if label not in taken else f"{label} (candidate)"
            measured.append(_subject(name, "candidate", policy, replay.sessions, window,
                                     params, replay=replay, series=on_measured is not None))
        baseline = measured[0].sessions if base is not None else None
        for batch in read_ahead(source, window.upto, encodings):
            for subject in measured:
                _feed(subject, batch, baseline)
        if on_built is not None:
            for subject in measured:
                if subject.replay is not None:
                    on_built(subject.label)
        columns: list[PolicyMetrics] = []
        for subject in measured:
            recount_disordered(conn, subject.sessions, subject.tally)
            metrics = _metrics(subject, params, has_baseline=baseline is not None)
            if on_measured is not None:
                on_measured(conn, metrics, subject)
            columns.append(metrics)
    return Comparison(window, params, tuple(columns), base.name if base else None)


def _subject(label: str, source: str, policy: Policy, sessions: Sessions, window: Window,
             params: Params, *, replay: Replay | None = None,
             summaries: dict[int, tuple[int, int, int]] | None = None,
             series: bool = False) -> Measured:
    tally = Tally(window, budget_of(policy, params), zones(policy), params.cache_ttl_minutes,
                  series=series, per_session=series and replay is None)
    for n in range(1, len(sessions.ids)):  # a projection's sessions exist from the start
        tally.open(n, sessions.keys[n], sessions.agents[n])
    return Measured(label, source, policy, compile_policy(policy).encoding, sessions, tally,
                    replay, summaries)


def _feed(subject: Measured, batch: Batch, baseline: Sessions | None) -> None:
    """The batch's members and summaries, in position order, to the subject's tally."""
    tally, sessions = subject.tally, subject.sessions
    if subject.replay is not None:
        known = len(sessions.ids)
        subject.replay.assign(batch)
        for n in range(known, len(sessions.ids)):
            tally.open(n, sessions.keys[n], sessions.agents[n])
    of = sessions.of
    base_of = baseline.of if baseline is not None and baseline is not sessions else None
    tokens = batch.tokens[subject.encoding]
    kinds = MEMBER_KINDS
    member = tally.member
    for e in batch.events:
        position = e.position
        n = of[position]
        if n:
            kind = kinds.get(e.type)
            if kind is not None:
                member(n, position, kind, e.sender, tokens.get(position, 0), e.occurred_at,
                       e.platform, e.space, e.chat, e.chat_type,
                       base_of[position] if base_of is not None else 0)
        elif e.type == "summary.recorded" and position in batch.standing:
            if subject.summaries is not None:
                found = subject.summaries.get(position)
                if found is not None:
                    tally.summary(found[0], position, found[1], found[2])
            elif subject.replay is not None:
                moved = subject.replay.summaries.get(position)
                if moved is not None:
                    tally.summary(moved[0], position, moved[1], tokens.get(position, 0))


def _metrics(subject: Measured, params: Params, *, has_baseline: bool) -> PolicyMetrics:
    tally = subject.tally
    sizes = tally.sizes()
    totals = tally.totals
    orphans: int | None = None
    if has_baseline:
        orphans = tally.orphans if subject.replay is not None else 0
    return PolicyMetrics(
        name=subject.label, source=subject.source, budget=tally.budget,
        sessions=len(sizes), sessions_by_kind=tally.kinds(),
        multi_chat_sessions=tally.multi_chat(), size_p50=nearest_rank(sizes, 0.50),
        size_p95=nearest_rank(sizes, 0.95), size_max=sizes[-1] if sizes else 0,
        over_budget=len(tally.crossings()), crossings=tally.crossings(), turns=totals.turns,
        context_tokens=totals.context, cache_write_tokens=totals.cache_write,
        cache_read_tokens=totals.cache_read,
        cost=params.prices.cost(totals.cache_write, totals.cache_read),
        cross_user_tokens=totals.cross_user, interrupts=tally.interrupts,
        privacy_leak_tokens=totals.leak, orphaned_sessions=orphans,
    )


_TIMELINE = text(
    "SELECT e.position, e.occurred_at, e.type, e.sender, e.platform, e.space FROM events e "
    "WHERE e.position = ANY(:positions) AND e.type IN ('message.received', 'message.sent', "
    "'tool.used')")


def recount_disordered(conn: Connection, sessions: Sessions, tally: Tally) -> None:
    """Interrupt exposure of the sessions whose members did not arrive in timeline order
    (an import of older history, a clock behind): their members read again and sorted."""
    disordered = set(tally.disordered())
    if not disordered:
        return
    positions: dict[int, list[int]] = {n: [] for n in disordered}
    for position, n in enumerate(sessions.of):
        if n in disordered:
            positions[n].append(position)
    space = tally.window.space
    for n, members in positions.items():
        rows = conn.execute(_TIMELINE, {"positions": members}).all()
        tally.recount(n, [(r.occurred_at, r.position, MEMBER_KINDS[r.type], r.sender)
                          for r in rows
                          if space is None or (r.space is not None
                                               and f"{r.platform}:{r.space}" == space)])
