"""Per-session leases: one holder at a time, waiters served in turn, expiry frees a killed
holder, fencing tokens only grow and a stale one cannot append a reply."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from convlog_client import AsyncConvlogClient, ConvlogApiError

from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer

HOLDERS = 5
ROUNDS = 3


def _reply(answering: dict[str, Any], text: str) -> dict[str, Any]:
    return event_dict(type="message.sent", sender="bot", reply_to=answering["message_id"],
                      text=text)


def test_clients_contending_for_one_session_hold_it_one_at_a_time(api: ApiServer) -> None:
    # Given a session, and several gateway workers that each want to run the agent in it
    token = api.token("gw")
    inbound = event_dict()
    session = api.client(token).turn(inbound)["session_id"]
    inside: list[int] = []
    overlaps: list[int] = []
    grants: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = api.client(token)
        for round_ in range(ROUNDS):
            # When each takes the lease (waiting for it), replies fenced, and releases
            lease = client.lease(session, ttl_seconds=10, wait_seconds=30)
            with lock:
                if inside:
                    overlaps.append(index)
                inside.append(index)
                grants.append(lease["fencing_token"])
            time.sleep(0.01)
            result = client.append([_reply(inbound, f"w{index} r{round_}")],
                                   fencing_token=lease["fencing_token"])
            assert result["appended"] == 1, result
            with lock:
                inside.remove(index)
            client.release(lease["lease_id"])

    with ThreadPoolExecutor(HOLDERS) as pool:
        list(pool.map(worker, range(HOLDERS)))

    # Then no two ever held it at once, every reply landed, and the tokens only grew
    assert overlaps == []
    assert len(grants) == HOLDERS * ROUNDS
    assert grants == sorted(grants) and len(set(grants)) == len(grants)


def test_a_held_session_refuses_a_second_holder_and_others_are_free(api: ApiServer) -> None:
    # Given two sessions, one of them leased
    client = api.client(api.token("gw"))
    first = client.turn(event_dict(chat="a"))["session_id"]
    second = client.turn(event_dict(chat="b"))["session_id"]
    held = client.lease(first, ttl_seconds=30)
    # When another holder asks for it without waiting, and for the other session
    with pytest.raises(ConvlogApiError) as busy:
        client.lease(first, wait_seconds=0)
    other = client.lease(second)
    # Then the held one is a 409 LEASE_HELD; the other session is not serialized with it
    assert (busy.value.status, busy.value.code) == (409, "LEASE_HELD")
    assert other["fencing_token"] > held["fencing_token"]
    # And renewing extends it, releasing frees it at once, and a release repeats safely
    renewed = client.renew(held["lease_id"], ttl_seconds=60)
    assert renewed["expires_at"] > held["expires_at"]
    client.release(held["lease_id"])
    client.release(held["lease_id"])
    assert client.lease(first)["fencing_token"] > other["fencing_token"]


_HOLDER = """
import json, sys, time
from convlog_client import ConvlogClient
client = ConvlogClient(sys.argv[1], sys.argv[2])
print(json.dumps(client.lease(sys.argv[3], ttl_seconds=1.0)), flush=True)
time.sleep(600)
"""


def test_a_killed_holders_lease_expires_and_its_fencing_token_goes_stale(
        api: ApiServer) -> None:
    # Given a session leased for one second by a gateway process
    token = api.token("gw")
    client = api.client(token)
    inbound = event_dict()
    session = client.turn(inbound)["session_id"]
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, api.url, token, session],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout is not None
        crashed = json.loads(holder.stdout.readline())
    finally:
        # When that process is killed without releasing
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    # Then another holder waiting for the session gets it once the lease expires
    taken = client.lease(session, ttl_seconds=30, wait_seconds=20)
    assert taken["fencing_token"] > crashed["fencing_token"]
    # And a reply fenced with the dead holder's token is refused; the new holder's lands
    stale = client.append([_reply(inbound, "late")], fencing_token=crashed["fencing_token"])
    fresh = client.append([_reply(inbound, "on time")], fencing_token=taken["fencing_token"])
    assert stale["results"][0]["code"] == "FENCING_TOKEN_STALE"
    assert fresh["appended"] == 1
    with pytest.raises(ConvlogApiError) as turn:
        client.turn(_reply(inbound, "late turn"), fencing_token=crashed["fencing_token"])
    assert (turn.value.status, turn.value.code) == (409, "FENCING_TOKEN_STALE")
    # And the dead lease can no longer be renewed
    with pytest.raises(ConvlogApiError) as gone:
        client.renew(crashed["lease_id"])
    assert gone.value.code == "LEASE_NOT_FOUND"


def test_the_async_client_takes_and_releases_a_lease(api: ApiServer) -> None:
    token = api.token("gw")
    session = api.client(token).turn(event_dict())["session_id"]

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        # Given the async client, When it leases, reads and releases
        async with AsyncConvlogClient(api.url, token) as client:
            lease = await client.lease(session, ttl_seconds=5)
            context = await client.context(session)
            await client.release(lease["lease_id"])
            again = await client.lease(session, ttl_seconds=5)
            return context, again

    context, again = asyncio.run(run())
    # Then it works as the sync client does
    assert context["session_id"] == session and again["fencing_token"] > 0
