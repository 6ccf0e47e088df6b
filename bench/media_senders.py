"""Browser stand-ins for the recorder benchmarks: aiortc tracks replaying encoded media.

Encoding 640×480 VP8 at 30 fps costs a sender far more than recording it costs the server, so
a few seconds are encoded once and replayed as encoded packets (aiortc sends an `av.Packet`
from a track as it is): the senders stay cheap and the recorder sees what a browser sends.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

W, H, FPS = 640, 480, 30
LOOP = 3  # seconds encoded once, replayed
BITRATE = 1_000_000


def encode_video() -> list[bytes]:
    """LOOP seconds of a moving picture, one key frame first (replays start decodable)."""
    enc: Any = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = W, H, "yuv420p"
    enc.time_base, enc.bit_rate = Fraction(1, FPS), BITRATE
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "g": str(FPS * LOOP + 1)}
    out: list[bytes] = []
    for i in range(FPS * LOOP):
        frame = av.VideoFrame(W, H, "yuv420p")
        y, u, v = frame.planes
        bar = (i * 12) % W
        row = bytes((x * 255 // W) if not bar <= x < bar + 40 else 255 for x in range(W))
        y.update((row * H)[:y.buffer_size].ljust(y.buffer_size, b"\0"))
        u.update(bytes([(i * 3) % 256]) * u.buffer_size)
        v.update(bytes([128]) * v.buffer_size)
        frame.pts = i
        out += [bytes(p) for p in enc.encode(frame)]
    out += [bytes(p) for p in enc.encode(None)]
    return out


def encode_audio() -> list[bytes]:
    """LOOP seconds of a tone as 20 ms Opus packets."""
    import math

    enc: Any = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    enc.time_base, enc.bit_rate = Fraction(1, 48000), 48000
    out: list[bytes] = []
    for i in range(50 * LOOP):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        samples = b"".join(int(8000 * math.sin(2 * math.pi * 440 * (i * 960 + n) / 48000))
                           .to_bytes(2, "little", signed=True) * 2 for n in range(960))
        frame.planes[0].update(samples)
        frame.sample_rate, frame.pts = 48000, i * 960
        out += [bytes(p) for p in enc.encode(frame)]
    return out


class Replay(MediaStreamTrack):
    """Encoded packets at their pace, looped; `sent` counts them."""

    def __init__(self, kind: str, packets: list[bytes], rate: int, clock: int) -> None:
        super().__init__()
        self.kind = kind
        self.packets, self.rate, self.clock = packets, rate, clock
        self.sent = 0
        self.start: float | None = None

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.sent / self.rate - time.monotonic()))
        packet = av.Packet(self.packets[self.sent % len(self.packets)])
        packet.pts = self.sent * self.clock // self.rate
        packet.time_base = Fraction(1, self.clock)
        self.sent += 1
        return packet


def tracks(video: list[bytes], audio: list[bytes]) -> tuple[Replay, Replay]:
    return Replay("audio", audio, 50, 48000), Replay("video", video, FPS, 90000)
