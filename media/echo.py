"""The pre-call connection test's far end: an aiortc peer that sends back what it receives.

The browser offers its camera and microphone tracks; each received track is added straight
back as a sending track, so the sender's encoder reads (consumes) every frame and none queue
up. The browser then measures round-trip time, loss and bitrate from its own statistics.

An echo exists only for the test: it is closed after `lifetime` seconds at most, when the
browser disconnects, or at shutdown. How many may run at once, and how many one caller may
start in an hour, are capped, so the check cannot be used to load the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from contextlib import suppress

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media.turn import server_peer_config

__all__ = ["EchoBusy", "EchoPeers"]

log = logging.getLogger(__name__)
HOUR = 3600.0
CLOSE_WITHIN = 3.0


class EchoBusy(Exception):
    """No echo peer now: too many are running, or this caller started too many lately."""


class EchoPeers:
    """The live echo peers of this process, under an app key (one per application)."""

    def __init__(self, *, max_live: int = 8, max_per_caller: int = 6,
                 lifetime: float = 30.0, ice: RTCConfiguration | None = None) -> None:
        self.ice = ice or server_peer_config()
        self.max_live = max_live
        self.max_per_caller = max_per_caller
        self.lifetime = lifetime
        self.live: set[RTCPeerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started: dict[str, deque[float]] = defaultdict(deque)

    def _admit(self, caller: str) -> None:
        recent = self._started[caller]
        cutoff = time.monotonic() - HOUR
        while recent and recent[0] < cutoff:
            recent.popleft()
        if len(recent) >= self.max_per_caller:
            raise EchoBusy(f"at most {self.max_per_caller} connection tests an hour")
        if len(self.live) >= self.max_live:
            raise EchoBusy("too many connection tests are running; try again in a minute")
        recent.append(time.monotonic())

    async def answer(self, caller: str, sdp: str) -> str:
        """Answer a browser's complete (non-trickle) offer; the answer holds all candidates."""
        self._admit(caller)
        pc = RTCPeerConnection(self.ice)
        self.live.add(pc)

        @pc.on("track")
        def echo(track: MediaStreamTrack) -> None:
            pc.addTrack(track)  # the sender reads every frame: nothing queues

        @pc.on("connectionstatechange")
        async def ended() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(pc)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await self._close(pc)
            raise
        task = asyncio.create_task(self._expire(pc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return pc.localDescription.sdp

    async def _expire(self, pc: RTCPeerConnection) -> None:
        await asyncio.sleep(self.lifetime)
        await self._close(pc)

    async def _close(self, pc: RTCPeerConnection) -> None:
        self.live.discard(pc)
        # aiortc's close waits on its transports; on a lossy line that can take long, and a
        # shutdown must not wait on a test.
        with suppress(Exception):
            await asyncio.wait_for(pc.close(), CLOSE_WITHIN)

    async def close_all(self) -> None:
        """Close every echo and cancel their timers (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(self._close(pc) for pc in list(self.live)))
