"""What the receive path still holds when reading stops is written too: aiortc's jitter
buffer hands a frame on only once a later one begins (sound, four frames later), so a
sender's last frames, or those before a cut, would otherwise never reach the file."""

from __future__ import annotations

import asyncio
import queue

from aiortc import RTCRtpCodecParameters
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import TimestampMapper
from aiortc.rtp import RtpPacket

from media.passthrough import _QUEUE, Arrival, _Direct

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                             payloadType=111)
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


class Receiver:
    """The parts of aiortc's RTCRtpReceiver that `Arrival` reads."""

    def __init__(self, kind: str, codec: RTCRtpCodecParameters) -> None:
        video = kind == "video"
        self._RTCRtpReceiver__jitter_buffer = (JitterBuffer(capacity=512, is_video=True)
                                               if video else JitterBuffer(16, prefetch=4))
        self._RTCRtpReceiver__timestamp_mapper = TimestampMapper()
        self._RTCRtpReceiver__codecs = {codec.payloadType: codec}
        setattr(self, _QUEUE, _Direct(kind, asyncio.Queue()))

    async def _handle_rtp_packet(self, packet, arrival_time_ms) -> None: ...

    async def _handle_rtcp_packet(self, packet) -> None: ...

    def receive(self, packet: RtpPacket) -> None:
        """As aiortc's receiver does: depayload, buffer, hand on what the buffer gives."""
        packet._data = packet.payload  # type: ignore[attr-defined]
        _, frame = self._RTCRtpReceiver__jitter_buffer.add(packet)
        if frame is not None:
            frame.timestamp = self._RTCRtpReceiver__timestamp_mapper.map(frame.timestamp)
            codec = self._RTCRtpReceiver__codecs[packet.payload_type]
            getattr(self, _QUEUE).put((codec, frame))


def packet(seq: int, timestamp: int, payload: bytes, pt: int, marker: bool = True
           ) -> RtpPacket:
    return RtpPacket(payload_type=pt, marker=int(marker), sequence_number=seq,
                     timestamp=timestamp, payload=payload)


def arrival(receiver: Receiver) -> Arrival:
    direct = getattr(receiver, _QUEUE)
    frames = direct.track_queue if isinstance(direct, _Direct) else asyncio.Queue()
    return Arrival(receiver, frames)  # type: ignore[arg-type]


def test_the_last_sound_frames_held_back_are_taken_out_once() -> None:
    receiver = Receiver("audio", OPUS)
    heard = arrival(receiver)
    for i in range(10):
        receiver.receive(packet(100 + i, 5000 + i * 960, bytes([i]), 111))
    handed, _ = heard.waiting()
    assert [f.data for f in handed] == [bytes([i]) for i in range(6)]  # four held back
    held = heard.held()
    assert [(f.data, f.timestamp) for f in held] == [(bytes([i]), i * 960)
                                                     for i in range(6, 10)]
    assert heard.held() == []  # never handed on twice


def test_a_picture_is_taken_out_only_when_all_of_it_came() -> None:
    receiver = Receiver("video", VP8)
    heard = arrival(receiver)
    receiver.receive(packet(1, 0, b"\x10a", 96, marker=False))  # frame 1 in two packets
    receiver.receive(packet(2, 0, b"b", 96))
    receiver.receive(packet(3, 3000, b"\x11c", 96))  # frame 2, whole (one packet)
    handed, _ = heard.waiting()
    assert [f.data for f in handed] == [b"\x10ab"]  # frame 2 waits for a later one
    assert [(f.data, f.timestamp) for f in heard.held()] == [(b"\x11c", 3000)]
    receiver.receive(packet(4, 6000, b"\x11d", 96, marker=False))  # frame 3: half of it
    assert heard.held() == [] and heard.waiting() == ([], False)


def test_nothing_is_held_by_a_receiver_not_read_encoded() -> None:
    receiver = Receiver("audio", OPUS)
    setattr(receiver, _QUEUE, queue.Queue())  # aiortc's own queue to its decoder
    assert arrival(receiver).held() == []
