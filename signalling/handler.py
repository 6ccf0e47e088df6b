"""The `/signal` WebSocket: one connection per participant (see docs/signalling.md).

A connection identifies its person from a cookie before the upgrade; the connection itself
(`signalling/connection.py`) then waits for `hello`, registers with the room bus and reads
messages one at a time. This module upgrades the request and sets up the room services.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from media.recorder import RecorderManager
from server import keys
from server.casework.keys import POLICIES
from server.errors import N_, Forbidden, Unauthenticated
from server.joining.members import member_for_participant
from server.recordings.keyring import key_ring
from server.staff.access import Audience, allow
from server.store.keys import USER
from signalling import protocol
from signalling.bus import InProcessBus
from signalling.connection import Connection
from signalling.keys import BUS, CLEANUPS, DESK, LEGS, ROOMS
from signalling.legs import LegDesk
from signalling.recording import RecordingDesk
from signalling.rooms import Rooms


def _origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return False
    allowed = urlsplit(request.app[keys.SETTINGS].base_url)
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc) == (allowed.scheme, allowed.netloc) or (
        parts.netloc == request.host and parts.scheme in ("http", "https"))


@allow(Audience.PUBLIC)
async def signal(request: web.Request) -> web.StreamResponse:
    """Upgrade to the signalling WebSocket, for the practitioner or an invited person."""
    if not _origin_ok(request):
        raise Forbidden(N_("This connection did not come from Rapport's own pages."))
    participant = await member_for_participant(request)
    user = request[USER]
    if participant is None and user is None:
        raise Unauthenticated(N_("Open your invitation link again, or sign in."))
    ws = web.WebSocketResponse(autoping=False, max_msg_size=protocol.MAX_FRAME_BYTES,
                               compress=False)
    await ws.prepare(request)
    sockets = request.app[keys.SOCKETS]
    sockets.add(ws)
    try:
        await Connection(request, ws).run(participant)
    finally:
        sockets.discard(ws)
    return ws


async def _close_sockets(app: web.Application) -> None:
    sockets = app[keys.SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=1001, message=b"server shutting down")


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the database's): the room bus and the room service."""
    bus = app.get(BUS) or InProcessBus()
    app[BUS] = bus
    app[ROOMS] = Rooms(app[keys.DB], bus, app[POLICIES])
    app[keys.LIVE_ROOMS] = app[ROOMS]  # what the feature packages see of it
    settings = app[keys.SETTINGS]
    recorder = RecorderManager(Path(settings.recordings_dir),
                               key_ring(settings))
    app[DESK] = RecordingDesk(app[keys.DB], bus, app[POLICIES], app[keys.CATALOGUES],
                              recorder)
    app[ROOMS].on_change = app[DESK].evaluate
    legs = app[LEGS] = LegDesk(app[keys.DB], bus)

    async def forget_legs(appointment_id: int) -> None:
        legs.forget(appointment_id)

    app[ROOMS].session_ended.append(forget_legs)
    app[CLEANUPS] = set[asyncio.Future[None]]()
    try:
        yield
    finally:
        await app[DESK].close()
        await _close_sockets(app)
        pending = app[CLEANUPS]
        if pending:
            await asyncio.wait(tuple(pending), timeout=5.0)
        await bus.close()


def setup(app: web.Application) -> None:
    app[keys.SOCKETS] = set[web.WebSocketResponse]()
    app.cleanup_ctx.append(rooms_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/signal", signal, name="signal")
