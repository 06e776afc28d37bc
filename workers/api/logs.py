"""The server's logs: the access log without secrets a client put in a query string."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

# A query parameter named like a credential: access_token, token, api_key, password,
# client_secret, signature, ... (names that only end a longer word, key_prefix, are kept).
SECRET_NAME = re.compile(r"(?i)^(?:.*[_-])?(?:token|secret|password|passwd|pwd|apikey|api_key|"
                         r"key|auth|authorization|signature|sig|credentials?)$")
REDACTED = "REDACTED"


def redact_query(path: str) -> str:
    """`path` with the values of secret-named query parameters replaced."""
    base, mark, query = path.partition("?")
    if not mark:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_NAME.match(name) for name, _ in pairs):
        return path
    cleaned = [(name, REDACTED if SECRET_NAME.match(name) else value) for name, value in pairs]
    return f"{base}?{urlencode(cleaned, quote_via=quote)}"


class RedactSecrets(logging.Filter):
    """On uvicorn's access log, whose arguments are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with the access log's handler redacting secrets."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    return config
