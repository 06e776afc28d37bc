"""The server's logs: no secret from a query string in the access log, and a client that
goes away mid-body is one INFO line, not a traceback."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from tests.fixtures.http import ApiServer
from workers.api.logs import REDACTED, RedactSecrets, log_config, redact_query


def test_secret_named_parameters_are_redacted_and_others_kept() -> None:
    assert redact_query("/v1/sessions?access_token=clg_abc&limit=5") == \
        f"/v1/sessions?access_token={REDACTED}&limit=5"
    assert redact_query("/v1/x?api_key=1&client_secret=2&password=3&key_prefix=agent%3Amain") \
        == f"/v1/x?api_key={REDACTED}&client_secret={REDACTED}&password={REDACTED}" \
           "&key_prefix=agent%3Amain"
    assert redact_query("/v1/sessions?cursor=abc") == "/v1/sessions?cursor=abc"
    assert redact_query("/v1/x?accessToken=a;clientSecret=b&refresh-token=c&limit=2") == \
        f"/v1/x?accessToken={REDACTED};clientSecret={REDACTED}&refresh-token={REDACTED}&limit=2"
    assert redact_query("/healthz") == "/healthz"


def test_uvicorns_access_record_is_redacted_by_the_configured_filter() -> None:
    # Given an access record as uvicorn makes it, and the filter `convlog serve` installs
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/v1/search?q=hi&access_token=clg_s3cret",
                                "1.1", 200), None)
    assert log_config()["handlers"]["access"]["filters"] == ["redact_secrets"]
    RedactSecrets().filter(record)
    # Then the line it writes holds no secret
    assert "clg_s3cret" not in record.getMessage() and REDACTED in record.getMessage()


def test_a_client_that_disconnects_mid_body_is_one_info_line(
        api: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="convlog.http")
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + api.token("gw").encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n[{\"type\":")
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while "disconnected" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [r for r in caplog.records if r.name == "convlog.http"]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert "disconnected" in lines[0].getMessage() and lines[0].exc_info is None
