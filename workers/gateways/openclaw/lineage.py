"""Which session key an archived OpenClaw transcript belongs to: the ids a key has had.

A /reset renames a key's transcript `<sessionId>.jsonl.reset.<time>` and gives the key a
new session id; the archive names no key. OpenClaw remembers a key's earlier ids in a
few places, each exact, and they are all read: the entry's usage lineage
(`usageFamilySessionIds`, also written in transcript headers, and `usageFamilyKey` in
the archived header), `previousSessionId`, the compaction checkpoints an entry carries
across a reset, and the `sessions.json.bak.N` snapshots of the store. An id claimed by
two keys is not guessed at, and neither is one nobody claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.gateways.lines import json_file
from workers.gateways.records import StoreRead

_STORE_BACKUP = re.compile(r"^sessions\.json\.bak\.\d+$")

Entry = Mapping[str, Any]


@dataclass
class Lineage:
    """Earlier session ids of each key, and the entry that describes the key's chat."""

    current: dict[str, str] = field(default_factory=dict)  # live session id -> key
    claims: dict[str, dict[str, Entry]] = field(default_factory=dict)  # id -> key -> entry
    families: dict[str, str] = field(default_factory=dict)  # usageFamilyKey -> key
    ambiguous: int = 0

    def add_entry(self, key: str, entry: Entry) -> None:
        """What a live sessions.json entry records of the ids its key had before."""
        self.current[entry["sessionId"]] = key
        family = entry.get("usageFamilyKey")
        if isinstance(family, str) and family.strip():
            self.families.setdefault(family.strip(), key)
        self._claim_all(key, entry, _listed(entry.get("usageFamilySessionIds")))
        self._claim_all(key, entry, [entry.get("previousSessionId")])
        for checkpoint in _listed(entry.get("compactionCheckpoints")):
            if not isinstance(checkpoint, dict) or checkpoint.get("sessionKey") not in (None, key):
                continue
            ids = [checkpoint.get("sessionId")]
            for side in ("preCompaction", "postCompaction"):
                reference = checkpoint.get(side)
                if isinstance(reference, dict):
                    ids.append(reference.get("sessionId"))
            self._claim_all(key, entry, ids)

    def add_header(self, key: str, entry: Entry, header: Mapping[str, Any] | None) -> None:
        """A live transcript's header may list the ids of its key's lineage too."""
        if header is not None:
            self._claim_all(key, entry, _listed(header.get("usageFamilySessionIds")))

    def add_backups(self, folder: Path, read: StoreRead) -> None:
        """`sessions.json.bak.N`: earlier snapshots of the store, key -> the id it had then."""
        for path in sorted(folder.glob("sessions.json.bak.*")):
            if not _STORE_BACKUP.match(path.name):
                continue
            snapshot = json_file(path, read)
            if not isinstance(snapshot, dict):
                continue
            for key, entry in snapshot.items():
                if isinstance(entry, dict) and isinstance(entry.get("sessionId"), str):
                    self._claim(entry["sessionId"], str(key), entry)

    def owner(self, session_id: str, header: Mapping[str, Any] | None,
              index: Mapping[str, Entry]) -> tuple[str, Entry] | None:
        """The key (and its entry) an archived transcript of `session_id` belongs to."""
        if session_id in self.current:
            return None  # a copy of a live transcript, not an earlier epoch
        claimed = self.claims.get(session_id, {})
        if len(claimed) > 1:
            self.ambiguous += 1
            return None
        if claimed:
            return next(iter(claimed.items()))
        family = header.get("usageFamilyKey") if header is not None else None
        if not isinstance(family, str) or not family.strip():
            return None
        key = family.strip() if family.strip() in index else self.families.get(family.strip())
        return (key, index[key]) if key is not None and key in index else None

    def _claim_all(self, key: str, entry: Entry, session_ids: Iterable[Any]) -> None:
        for session_id in session_ids:
            self._claim(session_id, key, entry)

    def _claim(self, session_id: Any, key: str, entry: Entry) -> None:
        if not isinstance(session_id, str) or not session_id.strip():
            return
        if self.current.get(session_id.strip()) == key:
            return  # the key's live id: not an earlier one
        self.claims.setdefault(session_id.strip(), {}).setdefault(key, entry)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
