"""Signalling's application state: the room bus, the rooms, the recording desk, the legs,
the heartbeat."""

from __future__ import annotations

import asyncio

from aiohttp import web

from signalling.bus import RoomBus
from signalling.drain import Live
from signalling.heartbeat import Heartbeat
from signalling.legs import LegDesk
from signalling.liveness import Watch
from signalling.recording import RecordingDesk
from signalling.rooms import Rooms

BUS: web.AppKey[RoomBus] = web.AppKey("bus")
ROOMS: web.AppKey[Rooms] = web.AppKey("rooms", Rooms)
DESK: web.AppKey[RecordingDesk] = web.AppKey("recording_desk", RecordingDesk)
LIVE: web.AppKey[Live] = web.AppKey("live_connections", Live)
HEARTBEAT: web.AppKey[Heartbeat] = web.AppKey("heartbeat", Heartbeat)
WATCH: web.AppKey[Watch] = web.AppKey("liveness_watch", Watch)
LEGS: web.AppKey[LegDesk] = web.AppKey("legs", LegDesk)
# Disconnections still being recorded; shutdown waits for them before the database closes.
CLEANUPS: web.AppKey[set[asyncio.Future[None]]] = web.AppKey("signalling_cleanups", set)
