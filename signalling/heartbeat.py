"""One heartbeat for every signalling connection of this process (issue #17).

Every `PING_EVERY` seconds a single task walks the live connections (it used to be a task
per connection, with its coroutine and its sleep: most of what an idle connection cost in
Python objects). At each beat, counted from the connection's own first one:

- a connection that has been silent for over `SILENCE_LIMIT` seconds is closed with 4408
  "heartbeat lost" (the browser answers pings by itself, so a live one is never silent);
- every `STAFF_CHECK_BEATS`th beat of a connection behind a staff session checks that the
  session is still alive (`signalling/staff_check.py`): signed out, or its lifetime over,
  closes it with 4401 "signed out";
- otherwise the connection is pinged.

A connection's first beat comes within `PING_EVERY` of its opening (at the next tick), so
it is pinged every 20 s and closed between 45 and 65 s after the last thing it sent, as
before. Closing waits for the browser's answer and the staff check for the database: each
runs in a task of its own, so that neither holds up the others' beat; so does a ping to a
browser that is not reading (a paused transport would make the ping wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from aiohttp import web

from signalling.protocol import Close
from signalling.staff_check import has_staff_session, staff_session_alive

PING_EVERY = 20.0
SILENCE_LIMIT = 45.0
STAFF_CHECK_BEATS = 6  # every two minutes
UNSENT_LIMIT = 16 * 1024  # bytes waiting in the transport: under it, a ping never waits

log = logging.getLogger("rapport.signalling")


class Beating(Protocol):
    """What the heartbeat needs of a connection (`signalling/connection.py`)."""

    request: web.Request
    ws: web.WebSocketResponse
    last_heard: float  # time.monotonic() of the last frame from the browser
    beats: int  # beats this connection has had
    close_code: int | None


class Heartbeat:
    """The process's connections that have a heartbeat, and the one timer that beats them."""

    def __init__(self) -> None:
        self.connections: set[Beating] = set()
        self.tasks: set[asyncio.Future[Any]] = set()  # closes, staff checks, waiting pings

    def add(self, connection: Beating) -> None:
        self.connections.add(connection)

    def discard(self, connection: Beating) -> None:
        self.connections.discard(connection)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(PING_EVERY)
                await self.beat(time.monotonic())
        finally:
            for task in tuple(self.tasks):
                task.cancel()

    async def beat(self, moment: float) -> None:
        """One beat of every connection (awaits nothing that can wait: see `_ping`)."""
        for connection in tuple(self.connections):
            try:
                await self._beat_one(connection, moment)
            except Exception:  # one connection's trouble must not stop everyone's heartbeat
                log.exception("heartbeat failed for a connection")

    async def _beat_one(self, connection: Beating, moment: float) -> None:
        if connection.ws.closed:
            return
        connection.beats += 1
        if moment - connection.last_heard > SILENCE_LIMIT:
            self._close(connection, Close.HEARTBEAT, b"heartbeat lost")
        elif (connection.beats % STAFF_CHECK_BEATS == 0
              and has_staff_session(connection.request)):
            self._spawn(self._staff_check(connection))
        else:
            await self._ping(connection)

    async def _ping(self, connection: Beating) -> None:
        transport = connection.request.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() >= UNSENT_LIMIT:
            self._spawn(self._ping_now(connection))  # it may wait for the browser to read
            return
        await self._ping_now(connection)

    @staticmethod
    async def _ping_now(connection: Beating) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.ws.ping()

    async def _staff_check(self, connection: Beating) -> None:
        try:
            alive = await staff_session_alive(connection.request)
        except Exception:  # the database unreachable: check again at the next round
            log.warning("could not check a staff session", exc_info=True)
            alive = True
        if not alive:
            self._close(connection, Close.UNAUTHENTICATED, b"signed out")
        elif not connection.ws.closed:
            await self._ping_now(connection)

    def _close(self, connection: Beating, code: int, message: bytes) -> None:
        self.connections.discard(connection)  # no more beats for it
        connection.close_code = code
        self._spawn(connection.ws.close(code=code, message=message))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
