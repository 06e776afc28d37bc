"""Token counts: exact counters (tiktoken, or bpe-openai when it agrees) and the
derived `token_counts` table, filled off the append path, once per (event, encoding)."""

from eventlog.encoding_names import KNOWN_ENCODINGS
from eventlog.tokens.bulk import CountProgress, count_pending, count_range_job
from eventlog.tokens.counting import (
    EncodingStatus,
    advance_watermark,
    count_locked,
    count_range,
    counting_status,
    ensure_counted,
    watermark,
    write_counts,
)
from eventlog.tokens.encodings import (
    PROBE_TEXTS,
    TokenCounter,
    check_encoding,
    get_encoding,
)

__all__ = [
    "KNOWN_ENCODINGS", "PROBE_TEXTS", "CountProgress", "EncodingStatus", "TokenCounter",
    "advance_watermark", "check_encoding", "count_locked", "count_pending", "count_range",
    "count_range_job", "counting_status", "ensure_counted", "get_encoding",
    "watermark", "write_counts",
]
