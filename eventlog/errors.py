"""The root of every error convlog raises on purpose, and the ones every layer can meet.

It lives in the innermost package so that every layer can derive from it. The
whole tree, one base per package:

    ConvlogError                    eventlog.errors: the root; `code` is stable
    ├── ConfigurationError          settings, data dir or database URL unusable
    ├── DatabaseError               the database failed or refused (driver errors translated)
    │   └── SchemaMissingError      the schema is absent or behind: run `convlog init`
    ├── EventLogError               eventlog.errors: the log itself
    ├── ProjectionError             projections.errors: projections, policies, context
    │   ├── PolicyError             a policy that cannot be used, with its diagnostics
    │   ├── ResolveError            an event with no session address
    │   ├── ContextError            a context that cannot be assembled
    │   ├── StaleCheckpoint         another projector moved the checkpoint first
    │   ├── UnfoldableEvent         an event the fold cannot apply (it is quarantined)
    │   ├── PoisonEvent             strict mode stopped at such an event
    │   └── LockLost                a projector lost its lock and stopped
    (the CLI reports usage errors through argparse and ConfigurationError codes)
"""

from __future__ import annotations


class ConvlogError(Exception):
    """Root error. `code` is stable for scripts; the message says what to do."""

    code = "CONVLOG_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigurationError(ConvlogError):
    code = "CONFIGURATION"


class DatabaseError(ConvlogError):
    code = "DATABASE"


class SchemaMissingError(DatabaseError):
    code = "SCHEMA_MISSING"


class EventLogError(ConvlogError):
    """The log refused or could not complete an operation."""

    code = "EVENT_LOG"
