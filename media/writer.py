"""One participant's recording file: what their browser sent, muxed into sealed WebM.

VP8 and Opus frames (`media.passthrough.Encoded`) are written as received, without decoding:
the file holds the quality the browser sent, and writing costs next to nothing. Frames of
other codecs arrive decoded and are re-encoded (VP8 / Opus), the only transcoding left.

Timing (`media.lipsync`): where the sender has reported its clocks for every track (RTCP
sender reports), each frame's time is when it was captured, on the one wall clock the
sender's sound and picture share, so they stay in sync; otherwise it is its RTP time from its
track's first frame plus when that track's first packet arrived. Either way a gap in sending
stays a gap. The header waits for a key frame of the video (the reader asks for one) and for
every track's first report, so the file begins decodable and in sync; what is received
meanwhile is kept. Everything runs in the writer's one thread, straight into a
`SealedWriter`: nothing unencrypted reaches the disk.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from media.lipsync import TrackClock
from media.passthrough import Encoded
from media.sealed import SealedWriter
from media.seek_index import SeekIndex

log = logging.getLogger("rapport.recorder")

SIZE = (640, 480)  # the size re-encoded video is scaled to (sent VP8 keeps its own)
FORMAT = "webm"
SUFFIX = ".webm.sealed"
SUFFIXES = (SUFFIX, ".mkv.sealed")  # files written before WebM were Matroska
HEADER_WAIT = 3.0  # seconds of media held for a video key frame before writing without video
# Seconds held for every track's first sender report (browsers send audio's every 5 s, the
# first about 2.5 s in) before timing the file by arrival instead.
SYNC_WAIT = 6.0
_MS = Fraction(1, 1000)
_AUDIO_RATE = 48000


class _NoSeek:
    """PyAV writes a streaming (non-seekable) WebM file through this: never rewrites; what
    it writes is watched for the seek index (`media.seek_index`)."""

    def __init__(self, sink: SealedWriter, index: SeekIndex) -> None:
        self.sink = sink
        self.index = index

    def write(self, data: bytes) -> int:
        self.index.feed(bytes(data))
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()


def media_type(name: str) -> str:
    """The Content-Type of a recording file once decrypted."""
    return "video/webm" if name.endswith(SUFFIX) else "video/x-matroska"


def _seconds(item: Any) -> float:
    if isinstance(item, Encoded):
        return item.timestamp / item.clock_rate
    return float(item.pts * item.time_base) if item.pts is not None else 0.0


def _ready(item: Any) -> bool:
    return not isinstance(item, Encoded) or item.keyframe


class StreamWriter:
    """One participant's segment file; every method but `add_stream` runs in `pool`."""

    def __init__(self, path: Path, key_id: str, key: bytes, size: tuple[int, int] = SIZE
                 ) -> None:
        self.path = path
        self.size = size
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self.raw: BinaryIO = path.open("xb")
        self.sealed = SealedWriter(self.raw, key_id, key)
        self.index = SeekIndex()
        self.container: Any = av.open(_NoSeek(self.sealed, self.index), mode="w",
                                      format=FORMAT)
        # When the file's part of the recording began (monotonic seconds; the recorder sets
        # it), so the file can say when, in that part, it began (side by side in step).
        self.epoch: float | None = None
        self.expected: list[str] = []  # track kinds, in the order they arrived
        self.streams: dict[str, Any] = {}
        self.copied: dict[str, bool] = {}  # kind → written as received (else re-encoded)
        self.pending: list[tuple[str, Any, TrackClock]] = []  # before the header
        self.clocks: dict[str, TrackClock] = {}
        self.synced = False  # timed by the sender's reports (else by arrival)
        self.origin = 0.0
        self.last: dict[str, int] = {}
        self.resampler: Any = None
        self.frames = 0  # frames written
        self.dropped = 0  # frames not written (video before its first key frame)
        self.busy = 0.0  # CPU seconds spent writing and sealing (for bench/recorder.py)
        self.first_at: float | None = None  # monotonic time the first frame arrived
        self.failed = False  # a write failed: the rest is not muxed

    @property
    def started(self) -> bool:
        return bool(self.streams)

    def add_stream(self, kind: str) -> None:
        """A track arrived (before any frame): the header waits for its first frame."""
        if kind not in self.expected:
            self.expected.append(kind)

    def write_many(self, kind: str, items: list[Any], clock: TrackClock) -> None:
        """In the writer's thread: frames of one track, timed by its `clock`. After a
        write has failed (a full disk), nothing more is muxed: the container is broken."""
        if self.failed:
            self.dropped += len(items)
            return
        started = time.thread_time()
        try:
            for item in items:
                self.write(kind, item, clock)
        except BaseException:
            self.failed = True
            raise
        finally:
            self.busy += time.thread_time() - started

    def write(self, kind: str, item: Any, clock: TrackClock) -> None:
        """One frame (the writer's thread, or a test's)."""
        if self.started:
            self._write(kind, item, clock)
            return
        self.clocks.setdefault(kind, clock)
        self.pending.append((kind, item, clock))
        waited = time.monotonic() - min(c.anchor or 0.0 for c in self.clocks.values())
        ready = all(any(k == kind and _ready(i) for k, i, _ in self.pending)
                    for kind in self.expected)
        # Decoded frames (re-encoded) are timed by arrival: nothing to wait for, and raw
        # pictures are not held in memory longer than the key frame wait.
        synced = not isinstance(item, Encoded) or all(
            kind in self.clocks and self.clocks[kind].synced for kind in self.expected)
        if (ready and (synced or waited > SYNC_WAIT)) or waited > HEADER_WAIT and not ready:
            self._start()

    def _time(self, item: Any, clock: TrackClock) -> float:
        """A frame's time, on the clock the file is timed by."""
        if self.synced and isinstance(item, Encoded):
            captured = clock.captured(item.timestamp, item.clock_rate)
            if captured is not None:
                return captured
        return (clock.anchor or 0.0) + _seconds(item)

    def _start(self) -> None:
        firsts: dict[str, Any] = {}
        for kind, item, _ in self.pending:
            if _ready(item):
                firsts.setdefault(kind, item)
        if not firsts:
            return
        for kind in sorted(firsts, key=lambda k: k != "video"):
            self._add(kind, firsts[kind])
        self.synced = all(self.clocks[kind].synced and isinstance(firsts[kind], Encoded)
                          for kind in firsts)
        pending, self.pending = self.pending, []
        timed = sorted(((self._time(item, clock), kind, item, clock)
                        for kind, item, clock in pending if kind in firsts),
                       key=lambda p: p[0])
        self.origin = timed[0][0]
        for _, kind, item, clock in timed:
            if kind not in self.last and not _ready(item):
                self.dropped += 1  # video before its first key frame cannot be decoded
                continue
            self._write(kind, item, clock)
        self.dropped += len(pending) - len(timed)

    def _add(self, kind: str, first: Any) -> None:
        copied = isinstance(first, Encoded)
        if kind == "video":
            # Copied VP8 only needs the header's size; re-encoding aims at real time.
            stream = self.container.add_stream("libvpx", rate=30, options={} if copied else {
                "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})
            stream.width, stream.height = (first.size() or self.size) if copied else self.size
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 600_000
        else:
            # Opened even when copying: its header (OpusHead) describes the copied packets.
            stream = self.container.add_stream("libopus", rate=_AUDIO_RATE)
        self.streams[kind], self.copied[kind] = stream, copied

    def _tail(self) -> bytes:
        """The seek index and footer; nothing if they cannot be made (the file is whole
        without them, as a stream: never lose the file's end over its index)."""
        try:
            return self.index.tail(self._start_ms())
        except Exception:  # noqa: BLE001 - logged; the file is finished all the same
            log.exception("recording finished without a seek index")
            return b""

    def _start_ms(self) -> int | None:
        """When the file's first frame came, in ms from `epoch`, on the recorder's clock
        (the sender's clock through its reports' arrival, when the file is timed by them)."""
        if self.epoch is None or not self.started:
            return None
        began = self.origin
        if self.synced:
            offsets = [c.offset for c in self.clocks.values() if c.offset is not None]
            if not offsets:
                return None
            began += min(offsets)
        return round((began - self.epoch) * 1000)

    def _write(self, kind: str, item: Any, clock: TrackClock) -> None:
        stream = self.streams.get(kind)
        if stream is None:
            self.dropped += 1  # a track that began after the header
            return
        at = self._time(item, clock) - self.origin
        if isinstance(item, Encoded):
            packet = av.Packet(item.data)
            packet.stream, packet.time_base = stream, _MS
            packet.pts = packet.dts = self._after(kind, round(at * 1000))
            packet.is_keyframe = item.keyframe
            self.container.mux(packet)
        else:
            self._encode(kind, stream, item, at)
        self.frames += 1

    def _after(self, kind: str, pts: int) -> int:
        """Timestamps strictly increase within a stream, whatever the network did."""
        pts = max(pts, self.last.get(kind, -1) + 1)
        self.last[kind] = pts
        return pts

    def _encode(self, kind: str, stream: Any, frame: Any, at: float) -> None:
        if kind == "video":
            outs = [frame.reformat(width=self.size[0], height=self.size[1], format="yuv420p")]
            rate = 90000
        else:
            if self.resampler is None:
                self.resampler = av.AudioResampler(format="s16", layout="stereo",
                                                   rate=_AUDIO_RATE)
            outs = self.resampler.resample(frame)
            rate = _AUDIO_RATE
        for out in outs:
            out.pts, out.time_base = self._after(kind, round(at * rate)), Fraction(1, rate)
            at += out.samples / rate if kind == "audio" else 0
            for packet in stream.encode(out):
                self.container.mux(packet)

    def finish(self) -> None:
        """In the writer's thread: flush what is held, close the container and the seal."""
        try:
            if not self.started and self.pending:
                self._start()
            for kind, stream in self.streams.items():
                if not self.copied[kind] and self.frames and not self.failed:
                    for packet in stream.encode(None):
                        self.container.mux(packet)
            self.container.close()
            if not self.failed:
                self.sealed.write(self._tail())
            self.sealed.close()
        finally:
            self.raw.close()
