"""How a parallel build cuts the log: slices by a hash of envelope columns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Partition:
    """Slice `index` of `count`, by a hash of the named envelope columns.

    `summary.recorded` events belong to no slice: a summary names its session by
    id, not by an address the hash could place, so whoever merges the slices
    folds them.
    """

    index: int
    count: int
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        allowed = {"agent", "platform", "account", "space", "chat"}
        if not set(self.columns) <= allowed or not 0 <= self.index < self.count:
            raise ValueError(f"bad partition {self}")

    @property
    def hash_sql(self) -> str:
        """The non-negative hash of the columns of `events e` that decides an event's slice."""
        columns = ", ".join(f"e.{name}" for name in self.columns)
        return f"(hashtext(concat_ws('|', {columns})) & 2147483647)"

    @property
    def filter_sql(self) -> str:
        """The condition on `events e` that keeps this slice's events."""
        return (f"{self.hash_sql} % {int(self.count)} = {int(self.index)} "
                "AND e.type <> 'summary.recorded'")
