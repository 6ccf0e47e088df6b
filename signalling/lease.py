"""A process's lease in Redis: "I am alive, and these are my connections".

The lease is a key with an expiry that the process renews every third of its lifetime,
beside a set naming the connections it holds (for operators; the rooms find a connection's
process from its id). A process that stops renewing — killed, frozen, cut off — loses the
lease when the key expires, and the others then treat its participants as disconnected
(`signalling/liveness.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time

from redis.asyncio import Redis

log = logging.getLogger("rapport.signalling.lease")


class Lease:
    def __init__(self, redis: Redis, prefix: str, process: str, seconds: int) -> None:
        self.redis = redis
        self.process = process
        self.seconds = seconds
        self.key = f"{prefix}:lease:{process}"
        self.connections = f"{prefix}:lease:{process}:connections"
        self.prefix = prefix
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.renew()
        self.task = asyncio.create_task(self._keep())

    async def renew(self) -> None:
        about = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                            "renewed": int(time.time())})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key, about, ex=self.seconds)
            pipe.expire(self.connections, self.seconds)
            await pipe.execute()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.renew()
            except Exception:  # Redis away for a moment: try again next beat
                log.warning("could not renew this process's lease", exc_info=True)

    async def own(self, connection: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.connections, connection)
            pipe.expire(self.connections, self.seconds)
            await pipe.execute()

    async def disown(self, connection: str) -> None:
        await self.redis.srem(self.connections, connection)

    async def alive(self, processes: set[str]) -> set[str]:
        ordered = sorted(processes)
        if not ordered:
            return set()
        found = await self.redis.mget([f"{self.prefix}:lease:{p}" for p in ordered])
        return {p for p, value in zip(ordered, found, strict=True) if value is not None}

    async def close(self) -> None:
        """Give the lease up at once: the others need not wait for it to expire."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(Exception):
            await self.redis.delete(self.key, self.connections)
