"""The server's HTTP/1.1 protocol: uvicorn's httptools one, with a deadline for a request's head.

uvicorn bounds an idle keep-alive connection but not a request whose head never ends:
a client that connects and trickles its headers a byte at a time (a slow loris) would
hold its connection for ever. Here a connection that has not sent a whole request
head within CONVLOG_API_HEADER_TIMEOUT seconds (default 10) of connecting, or of the
first byte of its next request, is closed (an idle keep-alive connection is uvicorn's
to close). The body has its own deadline (`EdgeMiddleware`).

httptools (llhttp, in C) rather than h11: it parses a turn's request in a fraction of
the CPU, and its callbacks say where a head begins and ends, which is all the deadline
needs.
"""

from __future__ import annotations

import asyncio
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEAD_SECONDS = 10.0


def head_seconds() -> float:
    try:
        value = float(os.environ.get("CONVLOG_API_HEADER_TIMEOUT", DEFAULT_HEAD_SECONDS))
    except ValueError:
        return DEFAULT_HEAD_SECONDS  # the settings refuse it at start-up with a message
    return value if value > 0 else DEFAULT_HEAD_SECONDS


class TimedHttpToolsProtocol(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None
    _head_seconds = DEFAULT_HEAD_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_seconds = head_seconds()  # read once a connection, not once a request
        self._await_head()

    def on_message_begin(self) -> None:
        # A request's first byte. Between requests an idle connection is uvicorn's
        # keep-alive's to close; a pipelined request's head gets its own deadline too.
        if self._head_timer is None:
            self._await_head()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._stop_head_timer()  # the head arrived whole
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self._head_seconds, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()
