"""The load generator of bench/vs_peerjs.py: pairs that bounce ICE candidates, the same
for both servers.

A pair is two WebSockets, A and B. A sends a ~200-byte candidate addressed to B; B sends it
straight back to A; A notes the round trip. Paced: each pair's A sends `rate` a second on a
fixed schedule (pairs spread evenly over each interval). Closed loop: each A sends its next
candidate as soon as the previous one came back. Either way every send is two relayed
messages. Rapport's side speaks the documented protocol only (docs/signalling.md: `candidate`
with `to`, relayed with `from`); PeerJS's its own (`CANDIDATE` with `dst`, relayed with `src`).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

WAIT = 60.0


def _line(i: int, sent: float) -> str:
    # ~200 bytes on the wire, like a browser's host candidate plus its envelope.
    return (f"candidate:{i % 9000 + 1000} 1 udp 2122260223 192.0.2.{i % 250 + 1} "
            f"{50000 + i % 10000} typ host generation 0 ufrag bench network-id 1 sent {sent:.9f}")


@dataclass
class Pair:
    """Two sockets; `a_to`/`b_to` are each one's address for the other."""

    a: aiohttp.ClientWebSocketResponse
    b: aiohttp.ClientWebSocketResponse
    a_to: Any
    b_to: Any
    peerjs: bool
    rtts: list[float] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    # Each socket is read all the time, as a browser's is (aiohttp answers the server's
    # pings only while reading; an unread socket would be closed as silent): candidates
    # with their arrival time go to a queue, everything else is dropped.
    inbox: dict[str, asyncio.Queue[tuple[float, dict[str, Any]] | None]] = field(
        default_factory=dict)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    relayed: int = 0  # messages sent through the server (A's and B's)
    lost: str = ""  # why the pair stopped, if it did

    def start(self) -> None:
        for side, ws in (("a", self.a), ("b", self.b)):
            self.inbox[side] = asyncio.Queue()
            self.readers.append(asyncio.create_task(self._read(ws, self.inbox[side])))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse,
                    inbox: asyncio.Queue[tuple[float, dict[str, Any]] | None]) -> None:
        while True:
            try:
                msg = await ws.receive()
            except (ConnectionError, RuntimeError) as exc:
                self.lost = self.lost or f"{type(exc).__name__}: {exc}"
                inbox.put_nowait(None)
                return
            arrived = time.perf_counter()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                self.lost = self.lost or f"closed {ws.close_code}"
                inbox.put_nowait(None)
                return
            found = self.candidate_of(msg.data)
            if found is not None:
                inbox.put_nowait((arrived, found))

    def frame(self, to: Any, candidate: dict[str, Any]) -> str:
        if self.peerjs:
            return json.dumps({"type": "CANDIDATE", "dst": to,
                               "payload": {"candidate": candidate, "type": "data"}})
        return json.dumps({"type": "candidate", "to": to, "candidate": candidate})

    def candidate_of(self, text: str) -> dict[str, Any] | None:
        message = json.loads(text)
        if self.peerjs:
            if message.get("type") == "CANDIDATE":
                found: dict[str, Any] = message["payload"]["candidate"]
                return found
        elif message.get("type") == "candidate":
            found = message["candidate"]
            return found
        if message.get("type") in ("error", "ERROR"):
            self.errors.append(message)
        return None

    def candidate(self, i: int) -> dict[str, Any]:
        return {"candidate": _line(i, time.perf_counter()), "sdpMid": "0", "sdpMLineIndex": 0,
                "usernameFragment": "bench"}

    async def bounce(self, stop: asyncio.Event) -> None:
        """B: send every candidate from A straight back."""
        while not stop.is_set():
            try:
                got = await asyncio.wait_for(self.inbox["b"].get(), 1.0)
            except TimeoutError:
                continue
            if got is None:
                return
            await self.b.send_str(self.frame(self.b_to, got[1]))
            self.relayed += 1

    async def _back(self) -> float:
        got = await asyncio.wait_for(self.inbox["a"].get(), WAIT)
        if got is None:
            raise RuntimeError(f"A's socket closed: {self.a.close_code}")
        arrived, found = got
        return arrived - float(found["candidate"].rsplit(" ", 1)[1])

    async def paced(self, rate: float, count: int, start: float) -> None:
        async def sender() -> None:
            for i in range(count):
                pause = start + i / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                await self.a.send_str(self.frame(self.a_to, self.candidate(i)))
                self.relayed += 1

        async def receiver() -> None:
            for _ in range(count):
                self.rtts.append(await self._back())

        await asyncio.gather(sender(), receiver())

    async def closed_loop(self, until: float) -> None:
        i = 0
        while time.perf_counter() < until:
            await self.a.send_str(self.frame(self.a_to, self.candidate(i)))
            self.relayed += 1
            self.rtts.append(await self._back())
            i += 1


async def _run(pairs: list[Pair], work: list[Any]) -> int:
    """Run the pairs' work with B bouncing; the messages relayed. A pair whose socket
    closes stops (`lost` says why) and the others go on."""
    stop = asyncio.Event()
    echoes = [asyncio.create_task(p.bounce(stop)) for p in pairs]
    before = sum(p.relayed for p in pairs)
    try:
        outcomes = await asyncio.gather(*work, return_exceptions=True)
    finally:
        stop.set()
        await asyncio.gather(*echoes, return_exceptions=True)
    for pair, outcome in zip(pairs, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            pair.lost = pair.lost or f"{type(outcome).__name__}: {outcome}"
    return sum(p.relayed for p in pairs) - before


async def run_paced(pairs: list[Pair], rate: float, seconds: float) -> int:
    """Every pair at `rate` sends a second for `seconds`; the messages relayed."""
    count = max(1, int(rate * seconds))
    start = time.perf_counter() + 0.3
    return await _run(pairs, [p.paced(rate, count, start + n / len(pairs) / rate)
                              for n, p in enumerate(pairs)])


async def run_closed(pairs: list[Pair], seconds: float) -> int:
    until = time.perf_counter() + seconds
    return await _run(pairs, [p.closed_loop(until) for p in pairs])


async def peerjs_socket(http: aiohttp.ClientSession, base: str, name: str
                        ) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{base}/peerjs?key=peerjs&id={name}&token=t{name}",
                               max_msg_size=0)
    msg = await ws.receive(timeout=WAIT)
    opened = json.loads(msg.data) if msg.type is aiohttp.WSMsgType.TEXT else {}
    if opened.get("type") != "OPEN":
        raise RuntimeError(f"PeerJS did not open {name}: {msg.type} {msg.data}")
    return ws


async def peerjs_pairs(http: aiohttp.ClientSession, base: str, count: int,
                       prefix: str) -> list[Pair]:
    async def one(n: int) -> Pair:
        a, b = f"{prefix}a{n}", f"{prefix}b{n}"
        wa, wb = await asyncio.gather(peerjs_socket(http, base, a), peerjs_socket(http, base, b))
        pair = Pair(wa, wb, b, a, peerjs=True)
        pair.start()
        return pair

    return list(await asyncio.gather(*(one(n) for n in range(count))))
