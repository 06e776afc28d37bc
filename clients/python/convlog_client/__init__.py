"""convlog's Python client for its HTTP API (httpx), sync and async, with the server's
error codes. It needs only httpx: `pip install ./clients/python` installs it alone (a
gateway need not install convlog), and installing convlog installs it too.

    from convlog_client import ConvlogClient
    with ConvlogClient("http://127.0.0.1:8080", token) as api:
        turn = api.turn(event, budget=8000)          # append + context in one round trip
        lease = api.lease(turn["session_id"], ttl_seconds=60, wait_seconds=10)
        api.append([reply], fencing_token=lease["fencing_token"])
        api.release(lease["lease_id"])

Appends are idempotent, so every call but `lease` is retried (a bounded number of
times, after Retry-After) on a 503 or a dropped connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

Json = dict[str, Any]
_RETRY_PAUSE_CAP = 5.0


class ConvlogApiError(Exception):
    """An error answer: `code` as the server (and CLI) names it, `status`, `hint`."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.hint = hint
        self.retry_after = retry_after


def _error(response: httpx.Response) -> ConvlogApiError:
    try:
        body = response.json()
        code, message, hint = body["code"], body["message"], body.get("hint")
    except (ValueError, KeyError, TypeError):
        code, message, hint = f"HTTP_{response.status_code}", response.text[:300], None
    retry = response.headers.get("retry-after")
    return ConvlogApiError(response.status_code, code, message, hint,
                           float(retry) if retry and retry.isdigit() else None)


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise _error(response)
    return response.json() if response.content else None


def _params(**values: Any) -> dict[str, Any]:
    return {k: (str(v).lower() if isinstance(v, bool) else v)
            for k, v in values.items() if v is not None}


def _session_path(session: str) -> str:
    return "/v1/sessions/" + quote(session, safe="/=")


class _Calls:
    """What each call sends; the sync and async clients differ only in how they send it."""

    @staticmethod
    def append(events: Iterable[Mapping[str, Any]], fencing_token: int | None) -> Json:
        return {"method": "POST", "url": "/v1/events", "json": list(events),
                "params": _params(fencing_token=fencing_token)}

    @staticmethod
    def turn(event: Mapping[str, Any], budget: int, tag_senders: bool,
             fencing_token: int | None, encoding: str | None = None) -> Json:
        body: Json = {"event": dict(event), "budget": budget, "tag_senders": tag_senders}
        if fencing_token is not None:
            body["fencing_token"] = fencing_token
        if encoding is not None:
            body["encoding"] = encoding
        return {"method": "POST", "url": "/v1/turns", "json": body}

    @staticmethod
    def context(session: str, budget: int, as_of: int | None, tag_senders: bool,
                after: int | None, projection: str | None, encoding: str | None = None) -> Json:
        return {"method": "GET", "url": _session_path(session) + "/context",
                "params": _params(budget=budget, as_of=as_of, tag_senders=tag_senders,
                                  after=after, projection=projection, encoding=encoding)}

    @staticmethod
    def sessions(**filters: Any) -> Json:
        return {"method": "GET", "url": "/v1/sessions", "params": _params(**filters)}


class ConvlogClient:
    """Synchronous client; use as a context manager or call `close()`."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, retries: int = 2,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.retries = retries
        self.http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {token}"})

    def __enter__(self) -> ConvlogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, url: str, *, retry: bool = True, **kwargs: Any) -> Any:
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                if attempt + 1 >= attempts:
                    raise
                time.sleep(min(2**attempt * 0.2, _RETRY_PAUSE_CAP))
                continue
            if response.status_code == 503 and attempt + 1 < attempts:
                time.sleep(min(float(response.headers.get("retry-after", "1")), _RETRY_PAUSE_CAP))
                continue
            return _answer(response)
        raise AssertionError("unreachable")

    # -- the gateway's three calls ------------------------------------------------------------

    def append(self, events: Iterable[Mapping[str, Any]], *,
               fencing_token: int | None = None) -> Json:
        return dict(self.request(**_Calls.append(events, fencing_token)))

    def turn(self, event: Mapping[str, Any], *, budget: int = 8_000, tag_senders: bool = False,
             fencing_token: int | None = None, encoding: str | None = None) -> Json:
        return dict(self.request(**_Calls.turn(event, budget, tag_senders, fencing_token,
                                               encoding)))

    def context(self, session: str, *, budget: int = 8_000, as_of: int | None = None,
                tag_senders: bool = False, after: int | None = None,
                projection: str | None = None, encoding: str | None = None) -> Json:
        return dict(self.request(**_Calls.context(session, budget, as_of, tag_senders, after,
                                                  projection, encoding)))

    # -- sessions -----------------------------------------------------------------------------

    def sessions(self, **filters: Any) -> Json:
        """One page: filters agent, key_prefix, participant, needs_summary, cursor, limit;
        after (a position an append returned: the page reflects it)."""
        return dict(self.request(**_Calls.sessions(**filters)))

    def iter_sessions(self, **filters: Any) -> Iterator[Json]:
        cursor = filters.pop("cursor", None)
        while True:
            page = self.sessions(**filters, cursor=cursor)
            yield from page["sessions"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def session(self, session: str, *, projection: str | None = None) -> Json:
        return dict(self.request("GET", _session_path(session),
                                 params=_params(projection=projection)))

    def resolve(self, event: Mapping[str, Any], *, projection: str | None = None) -> Json:
        return dict(self.request("POST", "/v1/resolve",
                                 json={"event": dict(event), "projection": projection}))

    def summarize(self, session: str, text: str, covers_position: int, *,
                  id: str | None = None) -> Json:
        return dict(self.request("POST", _session_path(session) + "/summaries",
                                 json={"text": text, "covers_position": covers_position,
                                       "id": id}))

    def reset(self, session: str, *, id: str | None = None) -> Json:
        return dict(self.request("POST", _session_path(session) + "/reset", json={"id": id}))

    # -- leases -------------------------------------------------------------------------------

    def lease(self, session: str, *, ttl_seconds: float = 30.0,
              wait_seconds: float = 0.0) -> Json:
        # Not retried: a retry after a lost answer could find its own first grant held.
        return dict(self.request("POST", _session_path(session) + "/lease", retry=False,
                                 json={"ttl_seconds": ttl_seconds,
                                       "wait_seconds": wait_seconds}))

    def renew(self, lease_id: str, *, ttl_seconds: float = 30.0) -> Json:
        return dict(self.request("POST", f"/v1/leases/{lease_id}/renew",
                                 json={"ttl_seconds": ttl_seconds}))

    def release(self, lease_id: str) -> None:
        self.request("DELETE", f"/v1/leases/{lease_id}")

    # -- projections and health ------------------------------------------------------------------

    def projections(self) -> list[Json]:
        return list(self.request("GET", "/v1/projections"))

    def projection(self, name: str) -> Json:
        return dict(self.request("GET", f"/v1/projections/{quote(name)}"))

    def create_projection(self, name: str, policy: Mapping[str, Any], *,
                          activate: bool = False) -> Json:
        return dict(self.request("POST", "/v1/projections", json={
            "name": name, "policy": dict(policy), "activate": activate}))

    def activate(self, name: str, *, wait: bool = False) -> Json:
        return dict(self.request("POST", f"/v1/projections/{quote(name)}/activate",
                                 json={"wait": wait}))

    def rollback(self) -> Json:
        return dict(self.request("POST", "/v1/projections/rollback"))

    def ready(self) -> Json:
        return dict(self.http.get("/readyz").json())


class AsyncConvlogClient:
    """The same calls for asyncio gateways (the hot path: append, turn, context, leases)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, retries: int = 2,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.retries = retries
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                                      headers={"Authorization": f"Bearer {token}"})

    async def __aenter__(self) -> AsyncConvlogClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, *, retry: bool = True, **kwargs: Any) -> Any:
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(min(2**attempt * 0.2, _RETRY_PAUSE_CAP))
                continue
            if response.status_code == 503 and attempt + 1 < attempts:
                await asyncio.sleep(min(float(response.headers.get("retry-after", "1")),
                                        _RETRY_PAUSE_CAP))
                continue
            return _answer(response)
        raise AssertionError("unreachable")

    async def append(self, events: Iterable[Mapping[str, Any]], *,
                     fencing_token: int | None = None) -> Json:
        return dict(await self.request(**_Calls.append(events, fencing_token)))

    async def turn(self, event: Mapping[str, Any], *, budget: int = 8_000,
                   tag_senders: bool = False, fencing_token: int | None = None,
                   encoding: str | None = None) -> Json:
        return dict(await self.request(**_Calls.turn(event, budget, tag_senders, fencing_token,
                                                     encoding)))

    async def context(self, session: str, *, budget: int = 8_000, as_of: int | None = None,
                      tag_senders: bool = False, after: int | None = None,
                      projection: str | None = None, encoding: str | None = None) -> Json:
        return dict(await self.request(**_Calls.context(session, budget, as_of, tag_senders,
                                                        after, projection, encoding)))

    async def sessions(self, **filters: Any) -> Json:
        return dict(await self.request(**_Calls.sessions(**filters)))

    async def iter_sessions(self, **filters: Any) -> AsyncIterator[Json]:
        cursor = filters.pop("cursor", None)
        while True:
            page = await self.sessions(**filters, cursor=cursor)
            for session in page["sessions"]:
                yield session
            cursor = page["next_cursor"]
            if cursor is None:
                return

    async def lease(self, session: str, *, ttl_seconds: float = 30.0,
                    wait_seconds: float = 0.0) -> Json:
        return dict(await self.request("POST", _session_path(session) + "/lease", retry=False,
                                       json={"ttl_seconds": ttl_seconds,
                                             "wait_seconds": wait_seconds}))

    async def renew(self, lease_id: str, *, ttl_seconds: float = 30.0) -> Json:
        return dict(await self.request("POST", f"/v1/leases/{lease_id}/renew",
                                       json={"ttl_seconds": ttl_seconds}))

    async def release(self, lease_id: str) -> None:
        await self.request("DELETE", f"/v1/leases/{lease_id}")
