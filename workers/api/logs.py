"""The server's logs: the access log without secrets a client put in a query string."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

# A query parameter named like a credential, in any case or spelling: access_token,
# accessToken, api-key, clientSecret, password, signature, ... (a name that only has
# such a word inside it, key_prefix, is kept).
SECRET_NAME = re.compile(r"(?i)(?:token|secret|passw(?:or)?d|pwd|api_?key|key|auth|"
                         r"authorization|signature|sig|credentials?)$")
REDACTED = "REDACTED"
# One parameter of a query string, separated by & or ; (both are seen in the wild).
_PARAMETER = re.compile(r"(^|[&;])([^=&;]*)(=?)([^&;]*)")


def redact_query(path: str) -> str:
    """`path` with the values of secret-named query parameters replaced, the rest as sent."""
    base, mark, query = path.partition("?")
    if not mark:
        return path

    def redact(found: re.Match[str]) -> str:
        start, name, equals, value = found.groups()
        secret = SECRET_NAME.search(unquote_plus(name).replace("-", "_"))
        return f"{start}{name}{equals}{REDACTED if secret and equals else value}"

    return f"{base}?{_PARAMETER.sub(redact, query)}"


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
