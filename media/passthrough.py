"""Encoded frames out of aiortc's receive path, for a recorder that keeps what was sent.

aiortc reassembles each received RTP stream into whole encoded frames (its jitter buffer and
depacketiser) on the event loop and queues them for a decoder thread per track, which would
turn them into pictures and sound. For a track marked with `keep_encoded`, that queue is
replaced: VP8 and Opus frames go straight to the track, untouched, as `Encoded` (payload, RTP
time); other codecs are decoded in a thread, so the writer can fall back to transcoding.
Nothing changes for tracks not marked (the echo peer, anything else in the process).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiortc.rtcrtpreceiver as receiving
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.codecs import get_decoder, is_rtx
from aiortc.rtp import RtcpSrPacket

from media.lipsync import TrackClock, mapped_origin

log = logging.getLogger("rapport.recorder")

KEPT = frozenset({"vp8", "opus"})  # codecs written as received; anything else is decoded

_decode = receiving.decoder_worker
_QUEUE = "_RTCRtpReceiver__decoder_queue"  # the receiver's queue to its decoder thread


@dataclass(frozen=True, slots=True)
class Encoded:
    """One received frame as the browser encoded it."""

    kind: str  # "audio" or "video"
    codec: str  # "vp8", "opus"
    data: bytes
    timestamp: int  # RTP time from the stream's first frame, in `clock_rate` units
    clock_rate: int

    @property
    def keyframe(self) -> bool:
        """A VP8 key frame (the P bit of the frame tag is 0); every audio frame counts."""
        return self.codec != "vp8" or (len(self.data) > 9 and not self.data[0] & 1)

    def size(self) -> tuple[int, int] | None:
        """Width and height from a VP8 key frame's header."""
        if self.codec != "vp8" or not self.keyframe or self.data[3:6] != b"\x9d\x01\x2a":
            return None
        return (int.from_bytes(self.data[6:8], "little") & 0x3FFF,
                int.from_bytes(self.data[8:10], "little") & 0x3FFF)


class Arrival:
    """A received track's clocks (`media.lipsync`: its first arrival, its sender's reports)
    and its SSRC (to ask it for key frames)."""

    def __init__(self, receiver: RTCRtpReceiver, frames: asyncio.Queue[Any]) -> None:
        self.receiver = receiver
        self.frames = frames  # the track's own queue (None at its end)
        self.clock = TrackClock()
        self.ssrc: int | None = None
        handle_rtp, handle_rtcp = receiver._handle_rtp_packet, receiver._handle_rtcp_packet

        async def noted(packet: Any, arrival_time_ms: int) -> None:
            # The stream's own packets: a browser's first may be retransmission (RTX)
            # padding, probing the bandwidth on another SSRC.
            if self.ssrc is None and not _is_rtx(receiver, packet.payload_type):
                self.clock.anchor, self.ssrc = time.monotonic(), packet.ssrc
            await handle_rtp(packet, arrival_time_ms)
            if self.clock.origin is None:
                self.clock.origin = mapped_origin(receiver)

        async def reported(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc == self.ssrc:
                info = packet.sender_info
                self.clock.reported(info.ntp_timestamp, info.rtp_timestamp,
                                    time.monotonic())
            await handle_rtcp(packet)

        receiver._handle_rtp_packet = noted  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = reported  # type: ignore[method-assign]

    @property
    def first(self) -> float | None:
        """When the track's first packet arrived (monotonic seconds)."""
        return self.clock.anchor

    def waiting(self) -> tuple[list[Any], bool]:
        """The frames already queued, without waiting; and whether the track ended."""
        out: list[Any] = []
        while not self.frames.empty():
            frame = self.frames.get_nowait()
            if frame is None:
                return out, True
            out.append(frame)
        return out, False

    def held(self) -> list[Encoded]:
        """The whole frames aiortc's jitter buffer still holds, taken out of it (it hands a
        frame on only once a later one begins, and sound four frames later: so when the
        sender stops, or the recording does, its last frames are still there)."""
        direct = getattr(self.receiver, _QUEUE, None)
        jitter = getattr(self.receiver, "_RTCRtpReceiver__jitter_buffer", None)
        mapper = getattr(self.receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        codecs = getattr(self.receiver, "_RTCRtpReceiver__codecs", {})
        if not isinstance(direct, _Direct) or jitter is None or jitter._origin is None:
            return []
        packets = []
        for count in range(jitter.capacity):
            packet = jitter._packets[(jitter._origin + count) % jitter.capacity]
            if packet is None:
                break
            packets.append(packet)
        jitter.remove(len(packets))  # never handed on twice
        frames: list[Encoded] = []
        for timestamp, group in itertools.groupby(packets, key=lambda p: p.timestamp):
            same = list(group)
            codec = codecs.get(same[0].payload_type)
            if codec is None or codec.name.lower() not in KEPT or mapper is None:
                continue
            if direct.kind == "video" and not same[-1].marker:
                continue  # a picture whose last packet has not come
            frames.append(Encoded(direct.kind, codec.name.lower(),
                                  b"".join(p._data for p in same), mapper.map(timestamp),
                                  codec.clockRate))
        return frames

    async def ask_keyframe(self) -> None:
        """A picture loss indication: the sender answers with a key frame."""
        if self.ssrc is not None:
            await self.receiver._send_rtcp_pli(self.ssrc)


def _is_rtx(receiver: RTCRtpReceiver, payload_type: int) -> bool:
    codecs = getattr(receiver, "_RTCRtpReceiver__codecs", {})
    codec = codecs.get(payload_type)
    return codec is not None and is_rtx(codec)


class _Direct:
    """Stands in for a receiver's queue to its decoder thread (aiortc fills it on the event
    loop): kept codecs go straight to the track, sparing a thread hop per frame (and the
    interpreter lock's hand-over, which dominates under load). aiortc's own decoder thread
    ends at once (nothing to join when the peer closes); a thread of our own decodes other
    codecs, started only if one arrives."""

    def __init__(self, kind: str, track_queue: asyncio.Queue[Any]) -> None:
        self.kind = kind
        self.track_queue = track_queue
        self.to_decode: queue.Queue[Any] | None = None
        self.error = threading.Event()

    def put(self, task: Any) -> None:
        if task is None:  # the receiver stops: end the track (and our decoder, unjoined)
            self.track_queue.put_nowait(None)
            if self.to_decode is not None:
                self.to_decode.put(None)
            return
        codec, frame = task
        if codec.name.lower() in KEPT:
            self.track_queue.put_nowait(Encoded(self.kind, codec.name.lower(),
                                                bytes(frame.data), frame.timestamp,
                                                codec.clockRate))
            return
        if self.to_decode is None:
            self.to_decode = queue.Queue()
            threading.Thread(target=_decoding, name=f"{self.kind}-recorder-decoder",
                             daemon=True, args=(asyncio.get_running_loop(), self.to_decode,
                                                self.track_queue, self.error)).start()
        self.to_decode.put(task)


def keep_encoded(track: MediaStreamTrack, receiver: RTCRtpReceiver) -> Arrival:
    """Mark a received track (before it connects): its frames arrive as `Encoded`."""
    track_queue = track._queue  # type: ignore[attr-defined]
    if isinstance(getattr(receiver, _QUEUE, None), queue.Queue):
        _install()
        setattr(receiver, _QUEUE, _Direct(track.kind, track_queue))
    else:  # another aiortc: its frames arrive decoded and the writer re-encodes them
        log.warning("aiortc's receiver cannot be read encoded; recording by re-encoding")
    return Arrival(receiver, track_queue)


def _install() -> None:
    if receiving.decoder_worker is not _worker:
        receiving.decoder_worker = _worker


def _worker(loop: asyncio.AbstractEventLoop, input_q: Any,
            output_q: asyncio.Queue[Any], decode_error: threading.Event) -> None:
    """aiortc's decoder thread: unchanged for other tracks, nothing to do for ours."""
    if not isinstance(input_q, _Direct):
        _decode(loop, input_q, output_q, decode_error)


def _decoding(loop: asyncio.AbstractEventLoop, input_q: queue.Queue[Any],
              output_q: asyncio.Queue[Any], decode_error: threading.Event) -> None:
    """Decode a codec WebM cannot hold as sent (the writer re-encodes it); ends at None."""
    decoder: Any = None
    decoding = ""
    while True:
        task = input_q.get()
        if task is None:
            return
        codec, frame = task
        if decoding != codec.name:
            decoder, decoding = get_decoder(codec), codec.name
        try:
            frames = decoder.decode(frame)
        except Exception:  # noqa: BLE001 - as aiortc: skip a frame that does not decode
            decode_error.set()
            continue
        for out in frames:
            asyncio.run_coroutine_threadsafe(output_q.put(out), loop)
