"""Slow clients cannot hold the server: a request head that never ends is cut off, a body
that stops arriving is answered 408, and a client that keeps pace is served."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.fixtures.http import ApiServer


def _connect(api: ApiServer) -> socket.socket:
    place = urlsplit(api.url)
    return socket.create_connection((place.hostname, place.port), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, if it closed within `seconds`; else None."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    return received


def test_a_request_head_that_never_ends_is_cut_off(
        api_factory: Callable[..., ApiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a server that gives a request's head half a second
    monkeypatch.setenv("CONVLOG_API_HEADER_TIMEOUT", "0.5")
    api = api_factory()
    # When one client trickles its headers and never ends them, and another connects and
    # sends nothing
    loris, silent = _connect(api), _connect(api)
    started = time.monotonic()
    loris.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    loris.sendall(b"X-Slow: 1\r\n")
    # Then the server closes both soon after the deadline, having answered nothing
    with loris, silent:
        assert _closed_within(loris, 5) == b""
        assert _closed_within(silent, 5) == b""
    assert time.monotonic() - started < 5
    # And a client that sends its request whole, twice on one connection, is answered
    with _connect(api) as prompt:
        for _ in range(2):
            prompt.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                answer += prompt.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200")
            time.sleep(0.7)  # idle past the deadline: the next request starts its own


def test_a_body_that_stops_arriving_is_answered_408(
        api_factory: Callable[..., ApiServer]) -> None:
    # Given a server that lets a body pause for half a second
    api = api_factory(api_body_timeout=0.5)
    token = api.token("gw")
    # When a client sends a request head promising 1,000 bytes and then only ten
    with _connect(api) as client:
        client.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                       b"Content-Type: application/x-ndjson\r\n"
                       + f"Authorization: Bearer {token}\r\n\r\n".encode() + b'{"type": "m')
        client.settimeout(10)
        answer = b""
        while b"REQUEST_TIMEOUT" not in answer and (chunk := client.recv(4096)):
            answer += chunk
    # Then it is answered 408 with the code, and nothing was appended
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"REQUEST_TIMEOUT" in answer
    with api.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 0


def test_the_next_request_on_a_kept_connection_has_its_own_head_deadline(
        api_factory: Callable[..., ApiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a server that gives a request's head half a second, and a connection that
    # was answered once
    monkeypatch.setenv("CONVLOG_API_HEADER_TIMEOUT", "0.5")
    api = api_factory()
    with _connect(api) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += client.recv(4096)
        # When its next request's head starts and never ends
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        # Then the server closes it soon after that head's deadline, answering nothing more
        assert _closed_within(client, 4) == b""
