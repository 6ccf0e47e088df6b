"""Graceful drain on SIGTERM: every page is told to reconnect elsewhere, writes finish.

aiohttp stops listening before the shutdown hooks run; then `drain` marks the process as
draining (`/readyz` answers 503, new `/signal` upgrades are refused with 503), queues a
close with code 4503 (`Close.DRAINING`) behind whatever each connection still had to
write, and waits up to `drain_seconds` for every connection to finish its writes and its
bookkeeping (the disconnection is recorded with reason "process stopping"). The pages
reconnect at once, with a little jitter, to any process and resume where they were.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from signalling.protocol import Close

log = logging.getLogger("rapport.signalling.drain")


class Drainable(Protocol):
    def close_after_writes(self, code: int) -> None:
        """Close with `code` once what is queued is written."""

    async def finished(self) -> None:
        """Return once the connection has closed and its bookkeeping is done."""


class Live:
    """This process's connections, and whether it is draining."""

    def __init__(self) -> None:
        self.connections: set[Drainable] = set()
        self.draining = False

    async def drain(self, seconds: float) -> int:
        """Tell every connection to reconnect elsewhere; returns how many were told."""
        self.draining = True
        told = tuple(self.connections)
        for connection in told:
            connection.close_after_writes(Close.DRAINING)
        if told:
            waits = [asyncio.ensure_future(c.finished()) for c in told]
            _done, late = await asyncio.wait(waits, timeout=seconds)
            for task in late:
                task.cancel()
            log.info("drained %s connections (%s late)", len(told), len(late))
        return len(told)
