"""Errors of the event log (the whole tree is drawn in `eventlog.convlog_errors`)."""

from __future__ import annotations

from eventlog.convlog_errors import ConvlogError


class EventLogError(ConvlogError):
    """The log refused or could not complete an operation."""

    code = "EVENT_LOG"
