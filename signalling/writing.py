"""What one signalling connection sends: straight to the socket while nothing is waiting,
queued for a writer task only when the browser reads slowly (backpressure, issue #17).

aiohttp writes an uncompressed frame to the transport before its first `await`, so a direct
write from any task keeps the order of messages; a write only waits when the transport is
paused, and a transport with more than `DIRECT_LIMIT` bytes unsent is not written directly:
from then on messages queue (at most `OUTBOX`) behind one writer task, which ends once the
queue is empty. A browser that lets the queue fill is closed by its connection. The queue
itself exists only while messages wait (an empty deque is over 600 bytes, and most
connections never need one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from signalling.protocol import Close

OUTBOX = 512
DIRECT_LIMIT = 16 * 1024


class Writer:
    """The outgoing half of one WebSocket."""

    __slots__ = ("close_code", "queue", "request", "task", "ws")

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request, self.ws = request, ws
        self.queue: deque[bytes | None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.close_code: int = Close.GONE

    async def put(self, message: dict[str, Any]) -> bool:
        """Send or queue a message; False when the queue is full (the browser is not
        reading)."""
        frame = orjson.dumps(message)
        if self.task is None and not self.queue:
            transport = self.request.transport
            if transport is None or transport.is_closing():
                return True  # closing: its connection's loop cleans up
            if transport.get_write_buffer_size() < DIRECT_LIMIT:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.send_frame(frame, WSMsgType.TEXT)
                return True
        queue = self._queue()
        if len(queue) >= OUTBOX:
            return False
        queue.append(frame)
        self._start()
        return True

    def finish(self, code: int) -> None:
        """Close the socket with `code` once what is queued is sent."""
        self.close_code = code
        self._queue().append(None)
        self._start()

    def _queue(self) -> deque[bytes | None]:
        if self.queue is None:
            self.queue = deque()
        return self.queue

    def _start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue:
                frame = self.queue.popleft()
                if frame is None:
                    await self.ws.close(code=self.close_code)
                    return
                if self.ws.closed:
                    return
                await self.ws.send_frame(frame, WSMsgType.TEXT)
        finally:
            self.task = None
            if self.ws.closed or not self.queue:
                self.queue = None

    async def flush(self, seconds: float) -> None:
        """Wait (at most `seconds`) for the queue to be written, then stop the writer."""
        task = self.task
        if task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(asyncio.shield(task), seconds)
        task.cancel()
