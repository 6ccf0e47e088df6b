"""The room bus over Redis pub/sub: the two ends of a call may sit on different processes.

Each participant has a channel, `<prefix>:p:<room>:<participant>`. The process that holds the
participant's connection subscribes to it (one pub/sub connection per process, one reader
task); anyone on any process sends by publishing to it. Attaching publishes a control message
on the channel, so an older connection of the same person on another process hears it was
replaced. Messages to a participant whose connection is on this process skip Redis.

Why pub/sub and not streams (docs/architecture.md, "Several processes"): what travels is
live signalling that is worthless once its reader is gone (an SDP offer for a closed socket,
a roster overtaken by the next); the database is the authority on room state and a page that
reconnects is sent a fresh roster. Pub/sub delivers in publish order on each channel, loses
nothing while the subscriber's connection is up, keeps nothing in memory after, and costs one
round trip. Streams would add trimming, consumer bookkeeping and a replay nobody needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub

from signalling.bus import CallFailed, Deliver, RoomBus, new_process_id, safely
from signalling.lease import Lease

log = logging.getLogger("rapport.signalling.bus")

KEEP_SECONDS = 86400  # shared values (a language, a prompt shown) outlive any call
SUBSCRIBE_WAIT = 10.0
CALL_WAIT = 10.0


class RedisBus(RoomBus):
    """Connections of every process sharing one Redis (and one key prefix)."""

    def __init__(self, redis: Redis, prefix: str, lease_seconds: int = 15) -> None:
        self.process = new_process_id()
        self.redis = redis
        self.prefix = prefix
        self.lease = Lease(redis, prefix, self.process, lease_seconds)
        self.local: dict[tuple[int, int], tuple[str, Deliver]] = {}
        self.pubsub: PubSub = redis.pubsub()
        self.subscribing: dict[str, asyncio.Future[None]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.published = 0  # messages that went through Redis (for metrics and tests)
        self.handlers = {}
        self.calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.serving: set[asyncio.Task[None]] = set()
        self.own_channel = f"{prefix}:proc:{self.process}"

    def channel(self, room: int, participant: int) -> str:
        return f"{self.prefix}:p:{room}:{participant}"

    # --- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.lease.start()
        # A pub/sub connection reads only once it has a subscription: this process's own.
        await self._subscribe(self.own_channel, start_reader=True)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis-py 8.2
        await self.lease.close()
        await self.redis.aclose()

    async def _subscribe(self, channel: str, start_reader: bool = False) -> None:
        done = self.subscribing.get(channel)
        if done is None:
            done = asyncio.get_running_loop().create_future()
            self.subscribing[channel] = done
        await self.pubsub.subscribe(channel)
        if start_reader:
            self.reader = asyncio.create_task(self._read())
        # Only once Redis confirms are publishes on the channel sure to reach us.
        await asyncio.wait_for(asyncio.shield(done), SUBSCRIBE_WAIT)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: keep trying; /readyz reports it meanwhile
                log.exception("room bus: reading from Redis failed")
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            if message["type"] == "subscribe":
                waiter = self.subscribing.pop(channel, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif message["type"] == "message":
                try:
                    await self._arrived(channel, json.loads(message["data"]))
                except Exception:  # one bad message must not stop the reader
                    log.exception("room bus: could not deliver a message")

    async def _arrived(self, channel: str, envelope: dict[str, Any]) -> None:
        if channel == self.own_channel:
            self._called(envelope)
            return
        _prefix, _p, room, participant = channel.rsplit(":", 3)
        key = (int(room), int(participant))
        current = self.local.get(key)
        if current is None:
            return
        if "attached" in envelope:
            if envelope["attached"] != current[0]:  # a newer tab, on another process
                del self.local[key]
                await self._unsubscribe(channel)
                await self.lease.disown(current[0])
                await safely(current[1], {"type": "replaced"})
            return
        await safely(current[1], envelope["m"])

    async def _unsubscribe(self, channel: str) -> None:
        with contextlib.suppress(Exception):
            await self.pubsub.unsubscribe(channel)

    # --- the bus -------------------------------------------------------------------------

    async def attach(self, room: int, participant: int, connection: str,
                     deliver: Deliver) -> None:
        key, channel = (room, participant), self.channel(room, participant)
        previous = self.local.get(key)
        self.local[key] = (connection, deliver)
        await self.lease.own(connection)
        if previous is None:
            await self._subscribe(channel)
        elif previous[0] != connection:
            await self.lease.disown(previous[0])
            await safely(previous[1], {"type": "replaced"})
        await self.redis.publish(channel, json.dumps({"attached": connection}))

    async def detach(self, room: int, participant: int, connection: str) -> None:
        key = (room, participant)
        current = self.local.get(key)
        if current is not None and current[0] == connection:
            del self.local[key]
            await self._unsubscribe(self.channel(room, participant))
            await self.lease.disown(connection)

    async def send(self, room: int, participant: int, message: dict[str, Any]) -> None:
        here = self.local.get((room, participant))
        if here is not None:
            await safely(here[1], message)
            return
        self.published += 1
        await self.redis.publish(self.channel(room, participant), json.dumps({"m": message}))

    async def send_many(self, room: int, participants: Iterable[int],
                        message: dict[str, Any]) -> None:
        remote = []
        for participant in participants:
            here = self.local.get((room, participant))
            if here is not None:
                await safely(here[1], message)
            else:
                remote.append(participant)
        if remote:
            payload = json.dumps({"m": message})
            async with self.redis.pipeline(transaction=False) as pipe:
                for participant in remote:
                    pipe.publish(self.channel(room, participant), payload)
                await pipe.execute()
            self.published += len(remote)

    # --- calls between processes --------------------------------------------------------

    async def call(self, process: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if process == self.process:
            return await self.handlers[kind](payload)
        ident = uuid.uuid4().hex
        waiter = asyncio.get_running_loop().create_future()
        self.calls[ident] = waiter
        try:
            listening = await self.redis.publish(f"{self.prefix}:proc:{process}", json.dumps(
                {"call": kind, "id": ident, "from": self.process, "payload": payload}))
            if not listening:
                raise CallFailed(f"process {process} is gone")
            answer = await asyncio.wait_for(waiter, CALL_WAIT)
        except TimeoutError:
            raise CallFailed(f"process {process} did not answer {kind}") from None
        finally:
            self.calls.pop(ident, None)
        if "error" in answer:
            raise CallFailed(str(answer["error"]))
        result: dict[str, Any] = answer["result"]
        return result

    def _called(self, envelope: dict[str, Any]) -> None:
        if "reply" in envelope:
            waiter = self.calls.get(envelope["reply"])
            if waiter is not None and not waiter.done():
                waiter.set_result(envelope)
            return
        # Each call in a task of its own: the reader must keep reading meanwhile.
        task = asyncio.create_task(self._answer(envelope))
        self.serving.add(task)
        task.add_done_callback(self.serving.discard)

    async def _answer(self, envelope: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"reply": envelope["id"]}
        try:
            reply["result"] = await self.handlers[envelope["call"]](envelope["payload"])
        except Exception as exc:  # told to the caller, who raises CallFailed
            reply["error"] = str(exc) or type(exc).__name__
        await self.redis.publish(f"{self.prefix}:proc:{envelope['from']}", json.dumps(reply))

    # --- shared state and liveness -------------------------------------------------------

    async def alive(self, processes: set[str]) -> set[str]:
        return await self.lease.alive(processes)

    async def remember(self, key: str, value: str) -> None:
        await self.redis.set(f"{self.prefix}:v:{key}", value, ex=KEEP_SECONDS)

    async def recall(self, key: str) -> str | None:
        value = await self.redis.get(f"{self.prefix}:v:{key}")
        return value.decode() if isinstance(value, bytes) else value

    async def first(self, key: str) -> bool:
        return bool(await self.redis.set(f"{self.prefix}:once:{key}", "1", nx=True,
                                         ex=KEEP_SECONDS))

    def rooms(self) -> int:
        return len({room for room, _ in self.local})

    async def ping(self) -> None:
        """Raise if Redis does not answer (for /readyz)."""
        await self.redis.ping()


# Publishing connections per process. redis-py's default pool refuses the 101st concurrent
# command ("Too many connections", a relay lost); a blocking pool makes a burst wait its turn.
POOL_CONNECTIONS = 64
POOL_WAIT_SECONDS = 20.0


def connect(url: str, prefix: str, lease_seconds: int) -> RedisBus:
    """The bus for `RAPPORT_ROOM_BUS=redis://…` (not yet started)."""
    pool = BlockingConnectionPool.from_url(url, max_connections=POOL_CONNECTIONS,
                                           timeout=POOL_WAIT_SECONDS)
    return RedisBus(Redis(connection_pool=pool), prefix, lease_seconds)
