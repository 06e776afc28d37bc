"""The slices of a parallel rebuild as the database keeps them: how the log is cut, the merge."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from eventlog.store import Partition
from projections.errors import ProjectionError
from projections.policy import Policy


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


def merge_slices(conn: Connection, projection_id: int) -> bool:
    """Hand the projection back to the ordinary projector once every slice is done.

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
    conn.execute(text("UPDATE projections SET checkpoint = :upto, updated_at = now() "
                      "WHERE id = :p"), {"p": projection_id, "upto": row.upto})
    conn.execute(text("DELETE FROM projection_slices WHERE projection_id = :p"),
                 {"p": projection_id})
    return True
