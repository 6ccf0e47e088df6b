"""How fast a withdrawal stops the recording, with both cores kept busy.

Run: `python -m bench.recorder --withdrawals 50` (this module does the work). The real server
(`python -m server.cli serve`, a recording key set) runs in a child process; one busy process
per core (a Python loop that never sleeps) runs beside it for the whole run. A practitioner
and a client, both aiortc peers in this process that follow docs/signalling.md, join a
remote appointment; then, again and again: the practitioner asks to record, both say yes,
both send 640×480 VP8 + Opus to the recorder, and after a second of media the client
withdraws. Measured from the moment `withdraw` is sent, in this process's clock: until each
person's recorder peer connection is closed (the server closed it), and until each person's
socket brought the `recording` `stopped` notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench import media_senders
from bench.signalling import Live, Server, free_port, join, seed, sign_in
from media.sealed import new_key_entry
from media.turn import server_peer_config
from server.settings import Settings

WAIT = 60.0


@dataclass
class Stops:
    closed: list[float] = field(default_factory=list)  # seconds, withdraw → peer closed
    told: list[float] = field(default_factory=list)  # seconds, withdraw → stopped notice
    load: list[float] = field(default_factory=list)  # 1-minute load average, per run


class Listener:
    """Every message of one socket, with the time it arrived."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.seen.append((time.perf_counter(), msg.json()))
                self.changed.set()

    async def expect(self, kind: str, since: int = 0, **fields: Any
                     ) -> tuple[float, dict[str, Any]]:
        deadline = time.perf_counter() + WAIT
        while True:
            for at, m in self.seen[since:]:
                if m["type"] == kind and all(m.get(k) == v for k, v in fields.items()):
                    return at, m
            if time.perf_counter() > deadline:
                raise AssertionError(f"no {kind} {fields}; saw {self.seen[-5:]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)

    async def send(self, **message: Any) -> None:
        await self.ws.send_json(message)


async def _to_recorder(who: Listener, request: int, media: tuple[list[bytes], list[bytes]]
                       ) -> tuple[RTCPeerConnection, asyncio.Event]:
    pc = RTCPeerConnection(server_peer_config())  # no lookup of a public STUN server
    for track in media_senders.tracks(*media):
        pc.addTrack(track)
    closed = asyncio.Event()

    @pc.on("connectionstatechange")
    def changed() -> None:
        if pc.connectionState in ("closed", "failed"):
            closed.set()

    await pc.setLocalDescription(await pc.createOffer())
    mark = len(who.seen)
    await who.send(type="recorder-offer", request=request, sdp=pc.localDescription.sdp)
    _, answer = await who.expect("recorder-answer", mark, request=request)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return pc, closed


async def _one(doctor: Listener, person: Listener, media: Any, stops: Stops) -> None:
    while True:  # the last request may still be being written down
        mark = len(doctor.seen)
        await doctor.send(type="record")
        if await _asked(doctor, mark):
            break
        await asyncio.sleep(0.2)
    _, reply = await doctor.expect("recording", mark, state="asking")
    request = reply["request"]
    for who in (doctor, person):
        _, prompt = await who.expect("consent-prompt", request=request)
        await who.send(type="consent", request=request, answer="yes",
                       wording=prompt["wording"]["sha256"])
    await person.expect("recording", request=request, state="recording")
    peers = [await _to_recorder(who, request, media) for who in (doctor, person)]
    for _ in range(int(WAIT / 0.05)):  # noqa: ASYNC110 - polling another library's state
        if all(pc.connectionState == "connected" for pc, _ in peers):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    marks = (len(doctor.seen), len(person.seen))
    sent = time.perf_counter()
    await person.send(type="withdraw", request=request)

    async def closed(event: asyncio.Event) -> None:
        await asyncio.wait_for(event.wait(), WAIT)
        stops.closed.append(time.perf_counter() - sent)

    async def told(who: Listener, since: int) -> None:
        at, _ = await who.expect("recording", since, request=request, state="stopped")
        stops.told.append(at - sent)

    await asyncio.gather(*(closed(e) for _, e in peers),
                         *(told(w, m) for w, m in zip((doctor, person), marks, strict=True)))
    stops.load.append(os.getloadavg()[0])
    for pc, _ in peers:
        await pc.close()


async def _asked(doctor: Listener, mark: int) -> bool:
    """True once the server answered `record` with a state, False on `recording_active`."""
    deadline = time.perf_counter() + WAIT
    while time.perf_counter() < deadline:
        for _, m in doctor.seen[mark:]:
            if m["type"] == "recording" and m.get("state") == "asking":
                return True
            if m["type"] == "error" and m.get("code") == "recording_active":
                return False
        await asyncio.sleep(0.02)
    raise AssertionError("no answer to record")


async def measure(withdrawals: int) -> Stops:
    """`withdrawals` withdrawals, both cores busy meanwhile."""
    media = (await asyncio.to_thread(media_senders.encode_video),
             await asyncio.to_thread(media_senders.encode_audio))
    with tempfile.TemporaryDirectory(prefix="rapport-bench-stop-") as folder:
        port = free_port()
        settings = Settings(database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
                            host="127.0.0.1", port=port, base_url=f"http://127.0.0.1:{port}",
                            migrate_on_start=False, log_json=False)
        seeded = await seed(settings, 1)
        server = Server(settings, Path(folder) / "server.log", extra_env={
            "RAPPORT_RECORDINGS_DIR": f"{folder}/recordings",
            "RAPPORT_RECORDING_KEYS": new_key_entry("bench"),
            "RAPPORT_RECORDING_KEY_ID": "bench"})
        busy: list[asyncio.subprocess.Process] = []
        try:
            await server.start()
        except RuntimeError:
            print((Path(folder) / "server.log").read_text()[-3000:])
            raise
        for _ in range(os.cpu_count() or 2):  # one busy process per core
            busy.append(await asyncio.create_subprocess_exec(
                sys.executable, "-c", "while True: pass"))
        stops = Stops()
        staff = await sign_in(settings.base_url, seeded.emails[0])
        live: Live | None = None
        try:
            appointment, token, _ = seeded.rooms[0]
            live = await join(settings.base_url, staff, appointment, token)
            doctor, person = Listener(live.doctor.ws), Listener(live.person.ws)
            for _ in range(withdrawals):
                await _one(doctor, person, media, stops)
        finally:
            for proc in busy:
                proc.kill()
                await proc.wait()
            if live is not None:
                await live.person.close()
                await live.doctor.close()
            await staff.close()
            problems = await server.stop()
            if problems:
                print("server warnings:", *problems[:10], sep="\n  ")
    return stops
