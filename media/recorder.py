"""The recorder: a server-side aiortc peer per participant, alive only while recording may run.

`RecorderManager.start` opens a recording segment for an appointment's room; each browser
then offers a separate peer connection to it (`accept`), sending its own audio and video. Every
received track is read continuously and its frames written as the browser sent them (VP8 /
Opus into WebM, `media/writer.py`; other codecs re-encoded) in a worker thread of that
participant's writer, straight into a `SealedWriter`: nothing unencrypted reaches the disk.
`cut` stops all writing and starts closing every peer at once, awaiting nothing; `stop` then
finishes the files. A write that fails (disk full) stops the segment and reports through
`on_failure`; the signalling layer then stops the recording and tells the practitioner.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from media.passthrough import Arrival, Encoded, keep_encoded
from media.sealed import KeyRing, SealedError
from media.turn import server_peer_config
from media.writer import SIZE, SUFFIX, StreamWriter

log = logging.getLogger("rapport.recorder")

BACKLOG = 200  # frames handed to the writer and not yet written before reading waits
KEYFRAME_EVERY = 0.5  # seconds between key frame requests until the first one arrives
# After it, a key frame at least this often (asked for at most once a second, as Galène's
# disk writer does): somewhere to start decoding for each cue of the seek index, so a
# seek lands within this of where it was aimed. Browsers otherwise send one only on loss.
SEEK_EVERY = 5.0

FailureHook = Callable[[int, str], Awaitable[None]]


async def _close_all(peers: tuple[RTCPeerConnection, ...]) -> None:
    await asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)


def _observe(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class RecordingFailed(Exception):
    """The recorder cannot start or cannot write; the message says why, in plain words."""


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
    # Every track read: what it still holds is handed to its writer when reading stops.
    tracks: list[tuple[Arrival, StreamWriter, str]] = field(default_factory=list)
    failed: bool = False
    closed_at: float | None = None
    started_at: float = field(default_factory=time.monotonic)  # everyone had said yes


class RecorderManager:
    """Every recorder peer of this process, by appointment; one per application."""

    def __init__(self, folder: Path, keys: KeyRing, size: tuple[int, int] = SIZE,
                 ice: RTCConfiguration | None = None) -> None:
        self.folder = folder
        self.ice = ice or server_peer_config()
        self.keys = keys
        self.size = size
        self.live: dict[int, _Live] = {}
        self.on_failure: FailureHook | None = None
        self.reporting: set[asyncio.Future[None]] = set()
        # (file, first frame, peers closed) of each finished file, monotonic seconds: what
        # each file should cover (tests compare it with the file's own duration).
        self.history: list[tuple[Path, float | None, float]] = []
        self.started: dict[Path, float] = {}  # each finished file: when its segment began
        self.in_sync: set[Path] = set()  # finished files timed by their sender's reports

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
        if old is not None:  # a new offer from the same person: their old tracks end
            mine = live.writers.get(participant_id)
            live.tracks = [t for t in live.tracks if t[1] is not mine]
            await old.close()
        pc = RTCPeerConnection(self.ice)
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
            receiver = next(t.receiver for t in pc.getTransceivers()
                            if t.receiver.track is track)
            arrival = keep_encoded(track, receiver)
            live.tracks.append((arrival, writer, track.kind))
            task = asyncio.ensure_future(self._read(appointment_id, live, writer, track,
                                                    arrival))
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
        writer = StreamWriter(path, live.key_id, live.key, self.size)
        writer.epoch = live.started_at
        return writer

    async def _read(self, appointment_id: int, live: _Live, writer: StreamWriter,
                    track: MediaStreamTrack, arrival: Arrival) -> None:
        """Read every frame as it comes (aiortc would queue unread frames forever) and hand
        them to the writer's one thread, in order, as many at a time as are waiting (so a
        busy moment costs fewer hand-overs, not frames); no frame is skipped."""
        loop = asyncio.get_running_loop()
        backlog: collections.deque[asyncio.Future[None]] = collections.deque()
        keyframe = track.kind != "video"
        asked = last_key = 0.0
        ended = False
        try:
            while not ended:
                try:
                    first = await track.recv()
                except MediaStreamError:
                    return
                more, ended = arrival.waiting()
                frames = [first, *more]
                if writer.first_at is None:
                    writer.first_at = time.monotonic()
                if arrival.clock.anchor is None:  # another aiortc: timed from here
                    arrival.clock.anchor = writer.first_at
                # Handed over before any await, so a cut (which cancels this task at once)
                # never loses frames already taken from the queue.
                backlog.append(loop.run_in_executor(writer.pool, writer.write_many,
                                                    track.kind, frames, arrival.clock))
                if track.kind == "video":
                    # Ask until one comes, so the file begins decodable; then now and then.
                    # (Decoded frames count: the re-encoder makes key frames of its own.)
                    moment = time.monotonic()
                    if any(not isinstance(f, Encoded) or f.keyframe for f in frames):
                        keyframe, last_key = True, moment
                    due = (moment - last_key > SEEK_EVERY and moment - asked > 1.0
                           if keyframe else moment - asked > KEYFRAME_EVERY)
                    if due:
                        asked = moment
                        await arrival.ask_keyframe()
                while backlog and backlog[0].done():
                    if not await self._wrote(appointment_id, live, backlog.popleft()):
                        return
                # Past its backlog (a stalled disk), reading waits for the writer.
                if len(backlog) > BACKLOG and not await self._wrote(
                        appointment_id, live, backlog.popleft()):
                    return
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
            ) -> Coroutine[Any, Any, None] | None:
        """At once, without waiting for anything: reading stops (no frame received from now
        on is written; those already handed to a writer are) and no offer is accepted. The
        coroutine closes every recorder peer of the room; the caller awaits it after telling
        people, so their notices are queued first (None if nothing was recording)."""
        live = self.live.get(appointment_id)
        if live is None or (recording_id is not None and live.recording_id != recording_id):
            return None
        live.failed = True  # no more offers accepted for this segment
        if live.closed_at is None:
            live.closed_at = time.monotonic()
        for task in tuple(live.readers):
            task.cancel()
        # What had arrived but not been read (the track's queue, and the frames aiortc's
        # jitter buffer holds back) goes to the writers too, without waiting: it came
        # before the cut. Nothing arriving after it is read.
        tracks, live.tracks = live.tracks, []
        for arrival, writer, kind in tracks:
            left = [f for f in arrival.waiting()[0] if f is not None] + arrival.held()
            if left:
                with contextlib.suppress(RuntimeError):  # a writer already shut down
                    writer.pool.submit(writer.write_many, kind, left, arrival.clock)
        peers = tuple(live.peers.values())
        live.peers.clear()
        return _close_all(peers)

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
            self.started[writer.path] = live.started_at
            if writer.synced:
                self.in_sync.add(writer.path)
        return paths

    async def close(self) -> None:
        """At shutdown: stop every room's recording."""
        await asyncio.gather(*(self.stop(a) for a in tuple(self.live)), return_exceptions=True)
