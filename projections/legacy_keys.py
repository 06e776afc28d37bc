"""A legacy key mapped to the convlog session it names under a policy (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventlog.events import Event
from projections.gateways.parsed import ParsedKey
from projections.gateways.parsing import parse_legacy_key
from projections.policy import Policy
from projections.resolver import Resolution, resolve

_PROBE = {"occurred_at": "1970-01-01T00:00:00Z", "message_id": "legacy-key-probe", "text": ""}


@dataclass(frozen=True, slots=True)
class Interpretation:
    """One reading of a legacy key and where its address lands under the policy."""

    parsed: ParsedKey
    resolution: Resolution | None
    renders_back: bool  # the policy renders this very key for the address

    def as_dict(self) -> dict[str, Any]:
        return {"parsed": self.parsed.as_dict(),
                "session": None if self.resolution is None else self.resolution.as_dict(),
                "renders_back": self.renders_back}


def interpret_key(key: str, policy: Policy, gateway: str | None = None) -> list[Interpretation]:
    """The readings of `key` resolved under `policy`: those it renders back, else all."""
    per_user = "sender" in policy.dimensions
    per_sender = policy.threads.per_sender
    readings = parse_legacy_key(
        key, gateway, main_key=policy.gateways.openclaw.main_key,
        group_sessions_per_user=per_user,
        thread_sessions_per_user=per_user if per_sender is None else per_sender)
    found = [_interpret(parsed, policy) for parsed in readings]
    exact = [item for item in found if item.renders_back]
    return exact or found  # a reading the policy renders back settles which gateway it is


def probe(parsed: ParsedKey) -> Event | None:
    data = parsed.probe_event()
    return None if data is None else Event.model_validate({**_PROBE, **data})


def _interpret(parsed: ParsedKey, policy: Policy) -> Interpretation:
    event = probe(parsed)
    if event is None:
        return Interpretation(parsed, None, False)
    resolution = resolve(event, policy)
    rendered = resolution.legacy.get(parsed.gateway)
    if parsed.gateway == "picoclaw" and rendered != parsed.key:
        rendered = resolution.legacy.get("picoclaw:alias")
    same = rendered is not None and rendered.lower() == parsed.key.strip().lower()
    return Interpretation(parsed, resolution, same)
