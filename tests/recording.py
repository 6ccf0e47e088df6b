"""Helpers for recording tests: settings with a key, and a three-way room ready to record."""

from __future__ import annotations

import asyncio
import io
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.lipsync import TrackClock
from media.sealed import new_key_entry, open_sealed
from media.seek_index import read_footer, served_range, served_size
from media.turn import server_peer_config
from media.writer import StreamWriter
from server import keys
from server.clock import now
from server.recordings.keyring import parse_keys
from server.settings import Settings
from server.store.models import (
    CallSession,
    Participant,
    ParticipantRole,
    ParticipantState,
    Recording,
    RecordingState,
)
from tests.calls import Peer, client_peer, practitioner_peer, remote_call

INTERPRETER_CHECKS = {"interpreter.private": True, "interpreter.confidential": True}


def recording_settings(database_url: str, folder: Path, *, key: bool = True) -> Settings:
    return Settings(database_url=database_url, migrate_on_start=False, log_json=False,
                    base_url="http://127.0.0.1:8080", recordings_dir=str(folder),
                    recording_keys=(new_key_entry("k1"),) if key else (),
                    recording_key_id="k1" if key else "")


def media_files(folder: Path) -> list[Path]:
    """Every file under the recordings folder (the invariant checks the disk, not a flag)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@dataclass
class Room:
    doctor: Peer
    client: Peer
    interp: Peer
    ids: dict[str, int]

    @property
    def peers(self) -> list[Peer]:
        return [self.doctor, self.client, self.interp]

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


async def three_way(client, db, settings, world, login, *, admit_interpreter: bool = True
                    ) -> Room:
    """Practitioner, client and interpreter in the room (the interpreter admitted or waiting)."""
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS,
                               name="Ola Nowak")
    person = await client_peer(client, call.client_token)
    ids = {m["you"]["role"]: m["you"]["id"] for m in (person.seen[0], interp.seen[0],
                                                      doctor.seen[0])}
    await doctor.send(type="admit", participant=ids["interpreter"])
    await interp.expect("admitted")
    await doctor.send(type="admit", participant=ids["client"])
    await person.expect("admitted")
    room = Room(doctor, person, interp, ids)
    if not admit_interpreter:
        await doctor.send(type="remove", participant=ids["interpreter"])
        await interp.closed()
    return room


async def settled(db, request: int, *, deleted: bool = False, within: float = 30.0
                  ) -> Recording:
    """The request's row once it is over: a withdrawal is told before it is written down."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        async with db() as s:
            row = await s.get(Recording, request)
        done = row is not None and row.state not in (
            RecordingState.ASKING, RecordingState.RECORDING, RecordingState.PAUSED)
        if done and (not deleted or row.deleted_at is not None):
            return row
        if loop.time() - start > within:
            raise AssertionError(f"recording {request} still open after {within}s")
        await asyncio.sleep(0.05)


async def consent_all(peers: list[Peer], request: int) -> None:
    """Each peer answers yes to the prompt it was sent."""
    for peer in peers:
        seen = [m for m in peer.seen
                if m["type"] == "consent-prompt" and m["request"] == request]
        prompt = seen[-1] if seen else await peer.expect("consent-prompt", request=request)
        await peer.send(type="consent", request=request, answer="yes",
                        wording=prompt["wording"]["sha256"])


# --- a browser stand-in: an aiortc peer sending small synthetic audio and video ----------------

class SmallVideo(VideoStreamTrack):
    """Black 160×120 frames at 30 fps (cheap to encode on a shared machine)."""

    async def recv(self):  # type: ignore[override]
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(160, 120, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts, frame.time_base = pts, time_base
        return frame


async def send_to_recorder(peer: Peer, request: int) -> RTCPeerConnection:
    """Offer audio and video to the recorder over the signalling socket, as call.js does."""
    pc = RTCPeerConnection(server_peer_config())  # no lookup of a public STUN server
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(SmallVideo())
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate
    await peer.send(type="recorder-offer", request=request, sdp=pc.localDescription.sdp)
    answer = await peer.expect("recorder-answer", request=request, within=10)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return pc


def decrypt(path: Path, ring) -> bytes:
    with path.open("rb") as fh:
        return b"".join(open_sealed(fh, ring.keys))


def served(plain: bytes) -> bytes:
    """A file's plaintext as Rapport serves it (`media.seek_index`): the front patched (a
    length), the Cues before the clusters, no footer."""
    footer = read_footer(lambda first, last: plain[first:last + 1], len(plain))
    return b"".join(served_range(lambda first, last: [plain[first:last + 1]], footer, 0,
                                 served_size(footer, len(plain)) - 1))


def probe(data: bytes, counts: dict[str, int] | None = None
          ) -> tuple[dict[str, str], dict[str, float]]:
    """Codec per stream type, and the last timestamp (seconds) of each."""
    with av.open(io.BytesIO(data)) as container:
        codecs = {s.type: s.codec_context.name for s in container.streams}
        last: dict[str, float] = {}
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                kind = packet.stream.type
                last[kind] = max(last.get(kind, 0.0), float(packet.pts * packet.time_base))
                if counts is not None:
                    counts[kind] = counts.get(kind, 0) + 1
    return codecs, last


# --- a finished recording on disk, without a call (for access and playback tests) ---------------

RECORDING_FILE = "seg001-p1.webm.sealed"


async def sealed_recording(db, app, appointment, *, seconds: float = 1.0,
                           retention_days: int = 30, noise: bool = False) -> int:
    """A stopped recording of `appointment` with one sealed WebM file; its id. `noise`:
    random pictures, which the encoder cannot squeeze (a file of realistic size)."""
    settings = app[keys.SETTINGS]
    at = now()
    session = CallSession(appointment_id=appointment.id, started_at=at,
                          started_by_id=appointment.practitioner_id, ended_at=at)
    db.add(session)
    await db.flush()
    person = Participant(appointment_id=appointment.id, user_id=appointment.practitioner_id,
                         role=ParticipantRole.PRACTITIONER, name="P", verified=True,
                         state=ParticipantState.LEFT, state_since=at, created_at=at,
                         expires_at=at + timedelta(days=1))
    db.add(person)
    await db.flush()
    row = Recording(appointment_id=appointment.id, call_session_id=session.id,
                    requested_by_id=person.id, requested_at=at, purpose="recording",
                    wording_version="recording.2026-11", state=RecordingState.STOPPED,
                    segments=[{"started": at.isoformat(), "stopped": at.isoformat()}],
                    stopped_at=at, stopped_reason="ended", key_id=settings.recording_key_id,
                    retention_until=at + timedelta(days=retention_days))
    db.add(row)
    await db.flush()
    row.file_path = f"rec-{row.id:08d}"
    folder = Path(settings.recordings_dir) / row.file_path
    folder.mkdir(parents=True, exist_ok=True)
    ring = parse_keys(settings.recording_keys, settings.recording_key_id)
    write_sealed(folder / RECORDING_FILE, ring, seconds=seconds, noise=noise)
    return row.id


def write_sealed(path: Path, ring, *, seconds: float = 1.0, noise: bool = False,
                 began: float = 0.0) -> None:
    """One person's sealed WebM file (re-encoded test pictures and silence), which says it
    began `began` seconds into its part of the recording."""
    writer = StreamWriter(path, ring.current, ring.keys[ring.current], (160, 120))
    writer.add_stream("video")
    writer.add_stream("audio")
    anchor = time.monotonic()
    clock = TrackClock(anchor)
    writer.epoch = anchor - began
    for i in range(int(30 * seconds)):  # 30 fps video and 20 ms of sound, interleaved
        frame = av.VideoFrame(160, 120, "yuv420p")
        for plane in frame.planes:
            plane.update(os.urandom(plane.buffer_size) if noise else bytes(plane.buffer_size))
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        writer.write("video", frame, clock)
        for j in range(i * 5 // 3, (i + 1) * 5 // 3):
            sound = av.AudioFrame(format="s16", layout="stereo", samples=960)
            for plane in sound.planes:
                plane.update(bytes(plane.buffer_size))
            sound.sample_rate, sound.pts, sound.time_base = 48000, j * 960, Fraction(1, 48000)
            writer.write("audio", sound, clock)
    writer.finish()
    writer.pool.shutdown()
