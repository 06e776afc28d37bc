"""The slices of a parallel rebuild as the database keeps them: how the log is cut, the merge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, text

from eventlog.envelopes import read_envelopes
from eventlog.partition import Partition
from projections.errors import PoisonEvent, ProjectionError, UnfoldableEvent
from projections.policy import Policy
from projections.projector import sets
from projections.projector.assign import Assignment, summary_target
from projections.projector.quarantine import record
from projections.projector.state import BATCH_SIZE, Quarantined
from projections.resolver import compile_policy


def slice_columns(policy: Policy) -> tuple[str, ...]:
    """Envelope columns no session crosses under `policy`, so slices never share state.

    Sessions are always separated by agent, and by platform and account unless DMs
    are scoped `main` or `per-peer`; replies, edits and threads stay inside them.
    """
    if policy.dm_scope in ("main", "per-peer"):
        return ("agent",)
    return ("agent", "platform", "account")


@dataclass(frozen=True, slots=True)
class SliceState:
    partition: Partition
    checkpoint: int
    upto: int

    @property
    def done(self) -> bool:
        return self.checkpoint >= self.upto


def slice_states(conn: Connection, projection_id: int, policy: Policy) -> list[SliceState]:
    """The slices of an unmerged parallel build of the projection; [] when there is none."""
    columns = slice_columns(policy)
    rows = conn.execute(text(
        "SELECT slice, slices, checkpoint, upto FROM projection_slices "
        "WHERE projection_id = :p ORDER BY slice"), {"p": projection_id})
    return [SliceState(Partition(r.slice, r.slices, columns), r.checkpoint, r.upto)
            for r in rows]


def merge_slices(conn: Connection, projection_id: int, *, strict: bool = False) -> bool:
    """Hand the projection back to the ordinary projector once every slice is done,
    after folding the summaries no slice could (`fold_summaries`).

    The caller holds the projector lock, shared or exclusive. Idempotent: False
    when there was nothing left to merge (another process merged first).
    """
    conn.execute(text("SELECT 1 FROM projections WHERE id = :p FOR UPDATE"),
                 {"p": projection_id})
    row = conn.execute(text(
        "SELECT count(*) AS slices, count(*) FILTER (WHERE checkpoint < upto) AS behind, "
        "max(upto) AS upto FROM projection_slices WHERE projection_id = :p"),
        {"p": projection_id}).one()
    if row.slices == 0:
        return False
    if row.behind:
        raise ProjectionError(f"{row.behind} of {row.slices} slices did not finish; run the "
                              "build again (`convlog projection create NAME`) to resume it",
                              code="PROJECTION_BEHIND")
    fold_summaries(conn, projection_id, row.upto, strict=strict)
    conn.execute(text("UPDATE projections SET checkpoint = :upto, updated_at = now() "
                      "WHERE id = :p"), {"p": projection_id, "upto": row.upto})
    conn.execute(text("DELETE FROM projection_slices WHERE projection_id = :p"),
                 {"p": projection_id})
    return True


_STARTED = text("SELECT session_id, first_position, summary_position FROM sessions "
                "WHERE projection_id = :p AND session_id = ANY(:ids)")


def fold_summaries(conn: Connection, projection_id: int, upto: int, *,
                   strict: bool = False) -> None:
    """Fold every `summary.recorded` up to `upto` into sessions the slices built.

    A summary names its session by id, so no slice can tell it is its own
    (`Partition`); once all are merged, the summaries are folded here in position
    order, as the sequential fold would have met them: a summary counts for a
    session that had started before it and only when it covers more than the
    session's summary so far; an unfoldable one is quarantined (or, strict, stops
    the merge). What it covers is taken as the members stood at its position, so
    folding it after later members changes nothing.
    """
    row = conn.execute(text("SELECT policy FROM projections WHERE id = :p"),
                       {"p": projection_id}).one()
    policy = compile_policy(Policy.model_validate(row.policy))
    current: dict[uuid.UUID, int | None] = {}
    after = 0
    while events := read_envelopes(conn, after, BATCH_SIZE, upto,
                                   types=("summary.recorded",)):
        after = events[-1].position
        targets: list[tuple[int, uuid.UUID, int]] = []
        quarantined: list[Quarantined] = []
        for event in events:
            try:
                session_id, covers = summary_target(event)
            except UnfoldableEvent as error:
                if strict:
                    raise PoisonEvent(
                        f"event at position {event.position} cannot be folded "
                        f"({error.code}: {error}); strict mode stops the merge of the "
                        "parallel build here", position=event.position,
                        cause_code=error.code) from None
                quarantined.append(Quarantined(event.position, error.code, str(error)))
                continue
            targets.append((event.position, session_id, covers))
        record(conn, projection_id, quarantined)
        started = {r.session_id: (r.first_position, r.summary_position) for r in conn.execute(
            _STARTED, {"p": projection_id, "ids": list({t[1] for t in targets})})}
        out = Assignment()
        for position, session_id, covers in targets:
            if session_id not in started or started[session_id][0] > position:
                continue  # a session of another grouping, or one not yet begun
            so_far = current.get(session_id, started[session_id][1])
            if so_far is not None and covers <= so_far:
                continue
            current[session_id] = covers
            out.summaries.append((session_id, position, covers))
        if out.summaries:
            sets.write(conn, projection_id, policy.encoding, policy.policy.compaction,
                       sets.rows_of(out), (events[0].position, events[-1].position))
