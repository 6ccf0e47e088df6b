"""The recorder: a server-side aiortc peer per participant, alive only while recording may run.

`RecorderManager.start` opens a recording segment for an appointment's room; each browser
then offers a separate peer connection to it (`accept`), sending its own audio and video. Every
received track is read continuously and its frames encoded (VP8 / Opus in Matroska, by PyAV)
in a worker thread of that participant's writer, straight into a `SealedWriter`: nothing
unencrypted reaches the disk. `stop` closes every peer first (so media stops at once), then
finishes the files. A write that fails (disk full) stops the segment and reports through
`on_failure`; the signalling layer then stops the recording and tells the practitioner.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from media.sealed import KeyRing, SealedError, SealedWriter

log = logging.getLogger("rapport.recorder")

SIZE = (640, 480)  # every frame is scaled to this: the container's size is fixed
FORMAT = "matroska"
BACKLOG = 4  # video frames waiting to be encoded before new ones are skipped (≈ 0.25 s)
AUDIO_BACKLOG = 50  # audio frames (20 ms each) in flight before reading waits for the encoder
SUFFIX = ".mkv.sealed"
_VIDEO_TB = Fraction(1, 90000)
_AUDIO_RATE = 48000

FailureHook = Callable[[int, str], Awaitable[None]]


def _observe(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class RecordingFailed(Exception):
    """The recorder cannot start or cannot write; the message says why, in plain words."""


class _NoSeek:
    """PyAV writes a streaming (non-seekable) Matroska file through this: never rewrites."""

    def __init__(self, sink: SealedWriter) -> None:
        self.sink = sink

    def write(self, data: bytes) -> int:
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()


class StreamWriter:
    """One participant's segment file: audio and video encoded and sealed in one thread."""

    def __init__(self, path: Path, key_id: str, key: bytes, size: tuple[int, int] = SIZE
                 ) -> None:
        self.path = path
        self.size = size
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self.raw: BinaryIO = path.open("xb")
        self.sealed = SealedWriter(self.raw, key_id, key)
        self.container: Any = av.open(_NoSeek(self.sealed), mode="w", format=FORMAT)
        self.video: Any = None
        self.audio: Any = None
        self.first: dict[str, int] = {}
        self.frames = 0
        self.dropped = 0  # video frames skipped because the encoder was still busy
        self.busy = 0.0  # CPU seconds spent encoding and sealing (for bench/recorder.py)
        self.first_at: float | None = None  # monotonic time the first frame arrived
        # Set (from the event loop) when consent ends: the writer's thread writes no frame
        # after it, nor flushes an encoder's delayed frames.
        self.cut = False

    def add_stream(self, kind: str) -> None:
        """Streams are added when tracks arrive, before any frame (the header comes first)."""
        if kind == "video" and self.video is None:
            # libvpx's defaults aim at quality, not time: tens of ms a frame. A recorder
            # must keep up with real time, so encode as a live encoder does.
            self.video = self.container.add_stream("libvpx", rate=30, options={
                "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})
            self.video.width, self.video.height = self.size
            self.video.pix_fmt = "yuv420p"
            self.video.bit_rate = 600_000
        elif kind == "audio" and self.audio is None:
            self.audio = self.container.add_stream("libopus", rate=_AUDIO_RATE)

    def encode(self, frame: Any) -> None:
        """In the writer's thread: rebase the time to the segment's start, encode, mux."""
        started = time.thread_time()
        try:
            self._encode(frame)
        finally:
            self.busy += time.thread_time() - started

    def _encode(self, frame: Any) -> None:
        if isinstance(frame, av.VideoFrame):
            stream, kind = self.video, "video"
            out: Any = frame.reformat(width=self.size[0], height=self.size[1],
                                     format="yuv420p")
        else:
            stream, kind = self.audio, "audio"
            out = frame
        if stream is None or frame.pts is None or self.cut:
            return
        start = self.first.setdefault(kind, frame.pts)
        out.pts, out.time_base = frame.pts - start, frame.time_base
        for packet in stream.encode(out):
            self.container.mux(packet)
        self.frames += 1

    def finish(self) -> None:
        """In the writer's thread: flush the encoders, close the container and the seal."""
        try:
            for stream in (self.video, self.audio):
                if stream is not None and self.frames and not self.cut:
                    for packet in stream.encode(None):
                        self.container.mux(packet)
            self.container.close()
            self.sealed.close()
        finally:
            self.raw.close()


@dataclass
class _Live:
    """An appointment's open segment: its folder, key, peers and writers."""

    recording_id: int
    segment: int
    folder: Path
    key_id: str
    key: bytes
    peers: dict[int, RTCPeerConnection] = field(default_factory=dict)
    writers: dict[int, StreamWriter] = field(default_factory=dict)
    readers: set[asyncio.Task[None]] = field(default_factory=set)
    failed: bool = False
    closed_at: float | None = None


class RecorderManager:
    """Every recorder peer of this process, by appointment; one per application."""

    def __init__(self, folder: Path, keys: KeyRing, size: tuple[int, int] = SIZE) -> None:
        self.folder = folder
        self.keys = keys
        self.size = size
        self.live: dict[int, _Live] = {}
        self.on_failure: FailureHook | None = None
        self.reporting: set[asyncio.Future[None]] = set()
        # (file, first frame, peers closed) of each finished file, monotonic seconds: what
        # each file should cover (tests compare it with the file's own duration).
        self.history: list[tuple[Path, float | None, float]] = []

    def available(self) -> bool:
        try:
            self.keys.current_key()
        except SealedError:
            return False
        return True

    def peer_count(self, appointment_id: int | None = None) -> int:
        return sum(len(s.peers) for a, s in self.live.items()
                   if appointment_id is None or a == appointment_id)

    def folder_for(self, recording_id: int) -> Path:
        return self.folder / f"rec-{recording_id:08d}"

    async def start(self, appointment_id: int, recording_id: int, segment: int) -> None:
        """Accept offers for this segment; `RecordingFailed` when no key is configured."""
        try:
            key_id, key = self.keys.current_key()
        except SealedError as exc:
            raise RecordingFailed(str(exc)) from None
        if appointment_id in self.live:
            await self.stop(appointment_id)
        self.live[appointment_id] = _Live(recording_id, segment,
                                          self.folder_for(recording_id), key_id, key)

    async def accept(self, appointment_id: int, participant_id: int, sdp: str) -> str:
        """Answer a participant's complete offer; their tracks are written from now on."""
        live = self.live.get(appointment_id)
        if live is None or live.failed:
            raise RecordingFailed("the recording is not running")
        old = live.peers.pop(participant_id, None)
        if old is not None:
            await old.close()
        pc = RTCPeerConnection()
        live.peers[participant_id] = pc
        try:
            writer = live.writers.get(participant_id) or self._writer(live, participant_id)
        except OSError as exc:
            await pc.close()
            live.peers.pop(participant_id, None)
            raise RecordingFailed(f"the recording cannot be written: {exc.strerror}") from None
        live.writers[participant_id] = writer

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if live.failed:
                return
            writer.add_stream(track.kind)
            task = asyncio.ensure_future(self._read(appointment_id, live, writer, track))
            live.readers.add(task)
            task.add_done_callback(live.readers.discard)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        if live.failed:  # consent ended while this offer was being answered
            await pc.close()
            raise RecordingFailed("the recording is not running")
        return pc.localDescription.sdp

    def _writer(self, live: _Live, participant_id: int) -> StreamWriter:
        live.folder.mkdir(parents=True, exist_ok=True)
        path = live.folder / f"seg{live.segment:03d}-p{participant_id}{SUFFIX}"
        return StreamWriter(path, live.key_id, live.key, self.size)

    async def _read(self, appointment_id: int, live: _Live, writer: StreamWriter,
                    track: MediaStreamTrack) -> None:
        """Read every frame as it comes (aiortc would queue unread frames forever)."""
        loop = asyncio.get_running_loop()
        # Encodes run in the writer's one thread, in order; the reader never waits for each
        # one, so a slow moment never slows reading (frames unread would pile up in aiortc).
        backlog: collections.deque[asyncio.Future[None]] = collections.deque()
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                if writer.first_at is None:
                    writer.first_at = time.monotonic()
                while backlog and backlog[0].done():
                    if not await self._wrote(appointment_id, live, backlog.popleft()):
                        return
                if track.kind == "video" and len(backlog) >= BACKLOG:
                    writer.dropped += 1  # the encoder is behind: keep up, skip this frame
                    continue
                # Audio is never skipped: past its backlog, reading waits for the encoder.
                if len(backlog) >= AUDIO_BACKLOG and not await self._wrote(
                        appointment_id, live, backlog.popleft()):
                    return
                backlog.append(loop.run_in_executor(writer.pool, writer.encode, frame))
        finally:
            for pending in backlog:  # their errors were already reported, or do not matter
                pending.add_done_callback(_observe)

    async def _wrote(self, appointment_id: int, live: _Live, pending: asyncio.Future[None]
                     ) -> bool:
        """Wait for an encode; False (and the failure reported) if writing failed."""
        try:
            await pending
        except (OSError, av.FFmpegError, SealedError) as exc:
            await self._failed(appointment_id, live, exc)
            return False
        return True

    async def _failed(self, appointment_id: int, live: _Live, exc: Exception) -> None:
        if live.failed:
            return
        live.failed = True
        log.error("recording failed", extra={"appointment": appointment_id, "error": str(exc)})
        reason = getattr(exc, "strerror", None) or str(exc)
        if self.on_failure is not None:
            # In a task of its own: the hook stops the recording, which awaits this reader.
            task = asyncio.ensure_future(self.on_failure(
                appointment_id, f"the recording could not be written: {reason}"))
            self.reporting.add(task)
            task.add_done_callback(self.reporting.discard)

    def cut(self, appointment_id: int, recording_id: int | None = None
            ) -> asyncio.Future[Any] | None:
        """At once, without waiting for anything: no frame is written from now on, no offer
        accepted, reading stops, and every recorder peer of the room starts closing. The
        future is done when they are all closed (None if nothing was recording)."""
        live = self.live.get(appointment_id)
        if live is None or (recording_id is not None and live.recording_id != recording_id):
            return None
        live.failed = True  # no more offers accepted for this segment
        if live.closed_at is None:
            live.closed_at = time.monotonic()
        for writer in live.writers.values():
            writer.cut = True
        for task in tuple(live.readers):
            task.cancel()
        peers = tuple(live.peers.values())
        live.peers.clear()
        return asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)

    async def close_peers(self, appointment_id: int) -> None:
        """Stop reading media and close every recorder peer of the room, now (the files are
        finished by `stop`)."""
        closing = self.cut(appointment_id)
        live = self.live.get(appointment_id)
        if closing is None or live is None:
            return
        await closing
        for task in tuple(live.readers):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self, appointment_id: int) -> list[Path]:
        """Close every recorder peer of the room at once, then finish its files."""
        await self.close_peers(appointment_id)
        live = self.live.pop(appointment_id, None)
        if live is None:
            return []
        loop = asyncio.get_running_loop()
        paths = []
        for writer in live.writers.values():
            try:
                await loop.run_in_executor(writer.pool, writer.finish)
            except (OSError, av.FFmpegError, SealedError) as exc:
                log.error("could not finish a recording file", extra={"error": str(exc)})
            writer.pool.shutdown(wait=False)
            paths.append(writer.path)
            self.history.append((writer.path, writer.first_at, live.closed_at or 0.0))
        return paths

    async def close(self) -> None:
        """At shutdown: stop every room's recording."""
        await asyncio.gather(*(self.stop(a) for a in tuple(self.live)), return_exceptions=True)
