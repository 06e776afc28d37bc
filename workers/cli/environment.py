"""CONVLOG_* variables the command line does not know: a misspelled setting is otherwise
ignored in silence (CONVLOG_DATABSE_URL would leave the log on the embedded server)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

# Every setting (eventlog.settings, workers.settings: a test holds this list to their
# fields) and the variables the test suite reads.
KNOWN = (
    "CONVLOG_API_BODY_TIMEOUT", "CONVLOG_API_CATCH_UP_MAX_LAG",
    "CONVLOG_API_CONSISTENCY_TIMEOUT", "CONVLOG_API_HEADER_TIMEOUT", "CONVLOG_API_MAX_BATCH",
    "CONVLOG_API_MAX_BODY_BYTES", "CONVLOG_API_MAX_WAIT_SECONDS", "CONVLOG_API_POOL_SIZE",
    "CONVLOG_API_SEPARATE_FOLDER", "CONVLOG_BROKER_URL", "CONVLOG_DATABASE_URL",
    "CONVLOG_ENCODING", "CONVLOG_HOME", "CONVLOG_INGEST_BATCH_SIZE", "CONVLOG_MAX_TEXT_CHARS",
    "CONVLOG_READ_DATABASE_URL", "CONVLOG_READ_REPLICA_TIMEOUT",
    "CONVLOG_RETENTION_MAX_SHARE", "CONVLOG_RETENTION_RULES", "CONVLOG_SEARCH_CONFIG",
    "CONVLOG_STRICT_PROJECTION",
    "CONVLOG_TEST_DATABASE_URL", "CONVLOG_TEST_RABBITMQ_URL", "CONVLOG_TEST_REDIS_URL",
    "CONVLOG_REPORT_SCREENSHOT",
)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning line for each CONVLOG_* variable that is no setting, naming the
    closest known one."""
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith("CONVLOG_") or name.upper() in KNOWN:
            continue
        close = difflib.get_close_matches(name.upper(), KNOWN, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"convlog: warning: {name} is not a setting convlog knows, so it is "
                     f"ignored{hint}")
    return lines
