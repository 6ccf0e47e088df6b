"""The process's one heartbeat (signalling/heartbeat.py): pings, the silence limit, the staff
session re-check; and what else a connection was slimmed of (issue #17): the drain's wait
made only when drain waits, the WebSocket upgrade's lean 101."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from sqlalchemy import update

from server.clock import now
from server.store.models import StaffSession
from signalling.heartbeat import PING_EVERY, SILENCE_LIMIT, STAFF_CHECK_BEATS
from signalling.keys import HEARTBEAT, LIVE
from tests.calls import client_peer, practitioner_peer, remote_call


@pytest.fixture
async def call(db, settings, world, login):
    await login(world.users["alice"])
    return await remote_call(db, settings, world.users["alice"], world.clients["a1"])


async def _closed(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    """Read until the socket closes: its close code and reason."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING):
            return ws.close_code, msg.extra or ""


async def _ping(ws: aiohttp.ClientWebSocketResponse) -> None:
    """The next frame other than a message is the server's ping."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            assert msg.type is aiohttp.WSMsgType.PING, (msg.type, msg.data)
            return


async def _unanswering(client, appointment_id: int) -> aiohttp.ClientWebSocketResponse:
    """The practitioner's socket, with pings left to the test (no automatic pong)."""
    ws = await client.ws_connect("/signal", autoping=False,
                                 origin=str(client.make_url("")).rstrip("/"))
    await ws.send_json({"type": "hello", "version": 1, "appointment": appointment_id})
    while (await ws.receive_json(timeout=5))["type"] != "welcome":
        pass
    return ws


async def test_one_timer_pings_every_connection(client, app, call):
    assert PING_EVERY == 20.0 and SILENCE_LIMIT == 45.0  # docs/signalling.md says so
    doctor = await _unanswering(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    heart = app[HEARTBEAT]
    assert len(heart.connections) == 2
    await heart.beat(time.monotonic())
    await _ping(doctor)
    assert all(c.beats == 1 for c in heart.connections)
    await person.ws.close()
    await doctor.close()


async def test_a_silent_connection_is_closed_heartbeat_lost(client, app, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    heart = app[HEARTBEAT]
    mine = next(c for c in heart.connections if c.member and c.member.role.value == "client")
    mine.last_heard = time.monotonic() - SILENCE_LIMIT - 1  # nothing from the browser since
    await heart.beat(time.monotonic())
    assert await _closed(person.ws) == (4408, "heartbeat lost")
    assert mine not in heart.connections
    # The practitioner, heard from within the limit, stays.
    await heart.beat(time.monotonic())
    assert not doctor.ws.closed
    await doctor.ws.close()


async def test_a_signed_out_practitioner_is_closed_at_the_staff_check(client, app, db, call):
    doctor = await _unanswering(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    heart = app[HEARTBEAT]
    for _ in range(STAFF_CHECK_BEATS - 1):
        await heart.beat(time.monotonic())
        await _ping(doctor)
    async with db.begin() as s:
        await s.execute(update(StaffSession).values(revoked_at=now()))
    await heart.beat(time.monotonic())  # the sixth: the session is checked, and is over
    assert await _closed(doctor) == (4401, "signed out")
    assert not person.ws.closed  # a client has no staff session to check
    await person.ws.close()


async def test_the_staff_check_keeps_a_live_session_and_pings(client, app, call):
    doctor = await _unanswering(client, call.appointment.id)
    heart = app[HEARTBEAT]
    for _ in range(STAFF_CHECK_BEATS):
        await heart.beat(time.monotonic())
        await _ping(doctor)  # the sixth after the check, in a task of its own
    assert not doctor.closed
    await doctor.close()


async def test_the_websocket_upgrade_carries_the_request_id_alone(client, call):
    ws = await client.ws_connect("/signal", origin=str(client.make_url("")).rstrip("/"),
                                 headers={"X-Request-Id": "bench-request-0001"})
    upgrade = ws._response  # noqa: SLF001 - the 101 is not otherwise exposed
    assert upgrade.status == 101
    assert upgrade.headers["X-Request-Id"] == "bench-request-0001"
    assert "Content-Security-Policy" not in upgrade.headers
    assert "Cache-Control" not in upgrade.headers
    await ws.close()
    page = await client.get("/login")  # every other response keeps them
    assert page.headers["Content-Security-Policy"] and page.headers["X-Request-Id"]


async def test_drain_waits_for_every_connection_to_be_recorded(client, app, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    connections = tuple(app[LIVE].connections)
    assert all(c.done is None for c in connections)  # nothing made until someone waits
    told, *closes = await asyncio.gather(app[LIVE].drain(5.0), _closed(doctor.ws),
                                         _closed(person.ws))
    assert told == 2 and [code for code, _ in closes] == [4503, 4503]
    assert all(c.over and c.done is not None and c.done.done() for c in connections)
    await connections[0].finished()  # returns at once once over
