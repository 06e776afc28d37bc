"""A gateway's configuration as a convlog policy: the result and its warnings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from projections.errors import PolicyError


@dataclass(frozen=True, slots=True)
class ConversionWarning:
    """A gateway setting with no convlog equivalent: its code, where it is, and why."""

    code: str
    setting: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "setting": self.setting, "message": self.message}


@dataclass
class Conversion:
    """The policy document built so far and what could not be carried over."""

    gateway: str
    policy: dict[str, Any] = field(default_factory=dict)
    warnings: list[ConversionWarning] = field(default_factory=list)

    def warn(self, code: str, setting: str, message: str) -> None:
        self.warnings.append(ConversionWarning(code, setting, message))

    def as_dict(self) -> dict[str, Any]:
        return {"gateway": self.gateway, "policy": self.policy,
                "warnings": [w.as_dict() for w in self.warnings]}


Converter = Callable[..., Conversion]  # (config, **gateway-specific extras) -> Conversion


def mapping(value: Any, setting: str, conversion: Conversion) -> dict[str, Any]:
    """A nested object of the config, or {} with a warning when it is something else."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    conversion.warn("INVALID_SETTING", setting, f"{setting} is not an object; it was ignored")
    return {}


def ignored(conversion: Conversion, section: Mapping[str, Any], prefix: str,
            handled: set[str], reasons: Mapping[str, str]) -> None:
    """Warn once for every key of `section` that was not carried over."""
    for key in section:
        if key in handled:
            continue
        why = reasons.get(key, "convlog has no equivalent setting; it was not carried over")
        conversion.warn("NO_EQUIVALENT", f"{prefix}{key}", why)


def require_object(data: Any, gateway: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise PolicyError(f"a {gateway} configuration is an object at the top level; check "
                          "that the file is the gateway's own config", code="INVALID_CONFIG")
    return data


def reset_section(conversion: Conversion, mode: Any, at_hour: Any, idle: Any,
                  setting: str) -> dict[str, Any]:
    """convlog's reset from a gateway's mode / hour / idle minutes; odd values warn."""
    reset: dict[str, Any] = {}
    if mode in ("none", "daily", "idle", "both"):
        reset["mode"] = mode
    elif mode is not None:
        conversion.warn("NO_EQUIVALENT", f"{setting}.mode",
                        f"reset mode {mode!r} has no convlog equivalent; the policy keeps none")
    if isinstance(at_hour, int) and not isinstance(at_hour, bool) and 0 <= at_hour <= 23:
        reset["at_hour"] = at_hour
    if isinstance(idle, int | float) and not isinstance(idle, bool) and idle >= 1:
        reset["idle_minutes"] = int(idle)
    return reset

