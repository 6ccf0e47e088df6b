"""The `/signal` WebSocket: one connection per participant (see docs/signalling.md).

A connection identifies its person from a cookie before the upgrade; the connection itself
(`signalling/connection.py`) then waits for `hello`, registers with the room bus and reads
messages one at a time. This module upgrades the request and sets up the room services.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from media.recorder import RecorderManager
from media.turn import server_peer_config
from server import keys
from server.casework.keys import POLICIES
from server.errors import N_, Forbidden, Unauthenticated
from server.joining.members import member_for_participant
from server.recordings.keyring import key_ring
from server.staff.access import Audience, allow
from server.store.keys import USER
from signalling.bus import InProcessBus, RoomBus
from signalling.connection import Connection
from signalling.drain import Live
from signalling.heartbeat import Heartbeat
from signalling.keys import BUS, CLEANUPS, DESK, HEARTBEAT, LEGS, LIVE, ROOMS, WATCH
from signalling.legs import LegDesk
from signalling.liveness import Watch
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
    live = request.app[LIVE]
    if live.draining:  # the page retries, and the proxy sends it to another process
        raise web.HTTPServiceUnavailable(text="this process is stopping; try again")
    frame_limit = request.app[keys.SETTINGS].signal_max_frame_bytes  # over it: close 1009
    ws = web.WebSocketResponse(autoping=False, max_msg_size=frame_limit, compress=False)
    await ws.prepare(request)
    sockets = request.app[keys.SOCKETS]
    sockets.add(ws)
    connection = Connection(request, ws)
    live.connections.add(connection)
    try:
        await connection.run(participant)
    finally:
        sockets.discard(ws)
        live.connections.discard(connection)
    return ws


async def _close_sockets(app: web.Application) -> None:
    """Shutdown: recordings here stop (and say so), pages are told to reconnect elsewhere,
    then whatever is left is closed."""
    if DESK in app:  # absent when start-up failed before the rooms were set up
        await app[DESK].drain()
    await app[LIVE].drain(app[keys.SETTINGS].drain_seconds)
    sockets = app[keys.SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=1001, message=b"server shutting down")


def make_bus(app: web.Application) -> RoomBus:
    """The bus the settings name: this process alone, or every process sharing a Redis."""
    settings = app[keys.SETTINGS]
    if not settings.room_bus:
        return InProcessBus()
    from signalling.redis_bus import connect

    return connect(settings.room_bus, settings.room_bus_prefix, settings.lease_seconds)


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the database's): the room bus, the room service, the liveness
    watch, the heartbeat."""
    bus = app.get(BUS) or make_bus(app)
    app[BUS] = bus
    await bus.start()
    app[ROOMS] = Rooms(app[keys.DB], bus, app[POLICIES])
    app[keys.LIVE_ROOMS] = app[ROOMS]  # what the feature packages see of it
    settings = app[keys.SETTINGS]
    recorder = RecorderManager(Path(settings.recordings_dir), key_ring(settings),
                               ice=server_peer_config(settings.stun_urls))
    app[DESK] = RecordingDesk(app[keys.DB], bus, app[POLICIES], app[keys.CATALOGUES],
                              recorder)
    app[ROOMS].on_change = app[DESK].evaluate
    legs = app[LEGS] = LegDesk(app[keys.DB], bus)

    async def forget_legs(appointment_id: int) -> None:
        legs.forget(appointment_id)

    app[ROOMS].session_ended.append(forget_legs)
    app[CLEANUPS] = set[asyncio.Future[None]]()
    app[WATCH] = Watch(app[keys.DB], bus, app[ROOMS].roster, app[ROOMS].session_ended,
                       settings.lease_seconds / 3,
                       timedelta(seconds=settings.reconnect_grace_seconds))
    watching = asyncio.create_task(app[WATCH].run())
    beating = asyncio.create_task(app[HEARTBEAT].run())
    try:
        yield
    finally:
        for task in (watching, beating):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app[DESK].close()
        await _close_sockets(app)
        pending = app[CLEANUPS]
        if pending:
            await asyncio.wait(tuple(pending), timeout=5.0)
        await bus.close()


def _gauges(app: web.Application) -> None:
    """What /metrics says of this process's rooms (read at each scrape)."""
    metrics, live = app[keys.METRICS], app[LIVE]
    metrics.gauge("rapport_rooms", "Rooms with a connection on this process",
                  lambda: app[BUS].rooms() if BUS in app else 0)
    metrics.gauge("rapport_connections", "Signalling WebSockets open on this process",
                  lambda: len(live.connections))
    metrics.gauge("rapport_participants", "People whose connection on this process said "
                  "hello", lambda: sum(1 for c in live.connections
                                       if getattr(c, "member", None) is not None))
    metrics.gauge("rapport_recorder_streams", "Recorder peer connections on this process",
                  lambda: app[DESK].recorder.peer_count() if DESK in app else 0)
    metrics.gauge("rapport_bus_published", "Messages this process sent through Redis",
                  lambda: float(getattr(app.get(BUS), "published", 0)))
    metrics.gauge("rapport_draining", "1 while this process drains on SIGTERM",
                  lambda: float(live.draining))


def setup(app: web.Application) -> None:
    app[keys.SOCKETS] = set[web.WebSocketResponse]()
    app[LIVE] = Live()
    app[HEARTBEAT] = Heartbeat()
    _gauges(app)
    app.cleanup_ctx.append(rooms_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/signal", signal, name="signal")
