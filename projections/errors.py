"""Errors of projections, policies and context (the tree is drawn in `eventlog.errors`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from eventlog.errors import ConvlogError

Severity = Literal["error", "warning"]


class ProjectionError(ConvlogError):
    code = "PROJECTION"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a policy: a stable code, where it is, and how to fix it."""

    code: str
    severity: Severity
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "path": self.path,
                "message": self.message}

    def __str__(self) -> str:
        return f"{self.severity} {self.code} at {self.path}: {self.message}"


class PolicyError(ProjectionError):
    """A policy that cannot be used; `diagnostics` lists every problem found."""

    code = "INVALID_POLICY"

    def __init__(self, message: str, diagnostics: Iterable[Diagnostic] = (),
                 *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)


class ResolveError(ProjectionError):
    """An event that has no session address (summary.recorded, or no chat)."""

    code = "NOT_RESOLVABLE"


class ContextError(ProjectionError):
    code = "CONTEXT"


class StaleCheckpoint(ProjectionError):
    """The checkpoint moved under a batch: another projector won; the batch rolled back."""

    code = "STALE_CHECKPOINT"


class UnfoldableEvent(ProjectionError):
    """An event the fold cannot apply as it stands; the projector quarantines it."""

    code = "UNFOLDABLE_EVENT"


class PoisonEvent(ProjectionError):
    """Strict mode: the projector stopped at an event it could not fold."""

    code = "POISON_EVENT"

    def __init__(self, message: str, *, position: int, cause_code: str) -> None:
        super().__init__(message)
        self.position = position
        self.cause_code = cause_code


class LockLost(ProjectionError):
    """The projector's lock connection died or no longer holds the lock; it stopped."""

    code = "LOCK_LOST"
