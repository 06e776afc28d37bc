"""The server's HTTP/1.1 protocol: uvicorn's h11 one, with a deadline for a request's head.

uvicorn bounds an idle keep-alive connection but not a request whose head never ends:
a client that connects and trickles its headers a byte at a time (a slow loris) would
hold its connection for ever. Here a connection that has not sent a whole request
head within CONVLOG_API_HEADER_TIMEOUT seconds (default 10) of connecting, or of the
first byte of its next request, is closed (an idle keep-alive connection is uvicorn's
to close). The body has its own deadline (`EdgeMiddleware`).
"""

from __future__ import annotations

import asyncio
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEAD_SECONDS = 10.0


def head_seconds() -> float:
    try:
        value = float(os.environ.get("CONVLOG_API_HEADER_TIMEOUT", DEFAULT_HEAD_SECONDS))
    except ValueError:
        return DEFAULT_HEAD_SECONDS  # the settings refuse it at start-up with a message
    return value if value > 0 else DEFAULT_HEAD_SECONDS


class TimedH11Protocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None
    _awaited: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        # Between requests an idle connection is uvicorn's keep-alive's to close; the next
        # request's deadline starts with its first byte. (Not at the previous response:
        # a pipelined request may be running by then, and must not be cut off.)
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._await_head()
        super().data_received(data)
        if self._head_timer is not None and self.cycle is not self._awaited:
            self._head_timer.cancel()  # a new request's head arrived whole
            self._head_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._awaited = self.cycle  # the cycle a new request's head replaces
        self._head_timer = self.loop.call_later(head_seconds(), self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is self._awaited and not self.transport.is_closing():
            self.transport.close()
