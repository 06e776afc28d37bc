"""The fidelity report: what was read, imported, skipped, left unrecovered, and the round trip."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workers.gateways.records import StoreProblem

_UNRECOVERED_WHY = {
    "sender": "a per-user policy cannot split these messages by author",
    "message_id": "replies and edits cannot point at these messages by the platform's id",
    "thread": "a per-thread policy cannot split these shared-chat messages by thread",
    "chat": "these sessions' chat is unknown: they stay keyed by the gateway's session key",
    "time": "these entries had no time: each took the time of the entry before it",
}


@dataclass
class RoundTrip:
    """Do the imported events land in the sessions the gateway had, under its own policy?"""

    policy: str
    gateway_sessions: int = 0
    reproduced: int = 0
    splits: list[dict[str, Any]] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.reproduced / self.gateway_sessions if self.gateway_sessions else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "gateway_sessions": self.gateway_sessions,
                "reproduced": self.reproduced, "share": round(self.share, 4),
                "splits": self.splits, "merges": self.merges}


@dataclass
class ImportReport:
    """Per store: counts by outcome and reason, unrecovered fields, problems, round trip."""

    gateway: str
    path: str
    timezone: str
    dry_run: bool
    sessions_read: int = 0
    sessions_imported: int = 0
    sessions_skipped: Counter[str] = field(default_factory=Counter)
    messages_read: int = 0
    received: int = 0
    appended: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    unrecovered: Counter[str] = field(default_factory=Counter)
    summaries_recorded: int = 0
    summaries_skipped: Counter[str] = field(default_factory=Counter)
    aliases_recorded: int = 0
    naive_times: int = 0
    problems: list[StoreProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    round_trip: RoundTrip | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway, "path": self.path, "dry_run": self.dry_run,
            "timezone": self.timezone, "times_without_zone": self.naive_times,
            "sessions": {"read": self.sessions_read, "imported": self.sessions_imported,
                         "skipped": dict(self.sessions_skipped)},
            "messages": {"read": self.messages_read, "received": self.received,
                         "appended": self.appended, "duplicates": self.duplicates,
                         "rejected": dict(self.rejected), "skipped": dict(self.skipped)},
            "unrecovered": dict(self.unrecovered),
            "summaries": {"recorded": self.summaries_recorded,
                          "skipped": dict(self.summaries_skipped)},
            "aliases_recorded": self.aliases_recorded,
            "problems": [p.as_dict() for p in self.problems],
            "notes": self.notes,
            "round_trip": None if self.round_trip is None else self.round_trip.as_dict(),
        }

    def lines(self) -> list[str]:
        """The report for a reader, one fact a line."""
        verb = "would append" if self.dry_run else "appended"
        out = [f"{self.gateway} store {self.path}",
               f"  sessions   {self.sessions_read} read, {self.sessions_imported} imported"
               + _reasons(self.sessions_skipped),
               f"  messages   {self.messages_read} read, {verb} {self.appended}, "
               f"{self.duplicates} already in the log" + _reasons(self.skipped)
               + _reasons(self.rejected, "rejected")]
        if self.summaries_recorded or self.summaries_skipped:
            out.append(f"  summaries  {self.summaries_recorded} recorded"
                       + _reasons(self.summaries_skipped))
        if self.naive_times:
            out.append(f"  times      {self.naive_times} had no zone and were read in "
                       f"{self.timezone} (--timezone)")
        for what, count in sorted(self.unrecovered.items()):
            out.append(f"  no {what:<10} {count}: {_UNRECOVERED_WHY.get(what, '')}")
        for problem in self.problems:
            out.append(f"  problem    {problem.path}: {problem.problem}")
        for note in self.notes:
            out.append(f"  note       {note}")
        if self.round_trip is not None:
            trip = self.round_trip
            out.append(f"  round trip under {trip.policy}: {trip.reproduced} of "
                       f"{trip.gateway_sessions} gateway sessions reproduced exactly "
                       f"({trip.share:.0%})")
            for split in trip.splits:
                out.append(f"    split  {split['gateway_key']} -> "
                           f"{len(split['convlog_keys'])} convlog sessions")
            for merge in trip.merges:
                out.append(f"    merge  {', '.join(merge['gateway_keys'])} -> "
                           f"{merge['convlog_key']}")
        return out


def _reasons(counts: Counter[str], label: str = "skipped") -> str:
    if not counts:
        return ""
    listed = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    return f"; {label}: {listed}"
