"""Errors of the event log; every user-facing one carries a code and what to do.

    ConvlogError                 root of every error convlog raises on purpose
    ├── ConfigurationError       settings, data dir or database URL unusable
    ├── DatabaseError            the database failed or refused (driver errors translated)
    │   └── SchemaMissingError   the schema is absent or behind: run `convlog init`
    └── AppendError              a batch could not be appended at all
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


class AppendError(ConvlogError):
    code = "APPEND_FAILED"
