"""Sound and picture in sync: frames are timed by when their sender captured them (RTCP
sender reports), not by when each track's first packet happened to arrive."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import av
import pytest

from media import writer as writing
from media.lipsync import TrackClock
from media.passthrough import Encoded
from media.sealed import open_sealed
from media.writer import StreamWriter

KEY_ID, KEY = "k1", os.urandom(32)
VP8_KEY = b"\x10\x02\x00\x9d\x01\x2a" + (160).to_bytes(2, "little") + (120).to_bytes(
    2, "little") + bytes(30)
VP8_DELTA = b"\x11\x02\x00" + bytes(20)
OPUS = b"\xfc\xff\xfe"  # a 20 ms silent Opus frame
NTP = 1 << 32  # one second in an NTP timestamp


def video(i: int) -> Encoded:  # 30 fps
    return Encoded("video", "vp8", VP8_KEY if i == 0 else VP8_DELTA, i * 3000, 90000)


def audio(i: int) -> Encoded:  # 20 ms frames
    return Encoded("audio", "opus", OPUS, i * 960, 48000)


def first_and_last(path: Path) -> dict[str, tuple[float, float]]:
    with path.open("rb") as fh:
        data = b"".join(open_sealed(fh, {KEY_ID: KEY}))
    times: dict[str, list[float]] = {}
    with av.open(io.BytesIO(data)) as container:
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                times.setdefault(packet.stream.type, []).append(
                    float(packet.pts * packet.time_base))
    return {kind: (min(t), max(t)) for kind, t in times.items()}


def record(path: Path, vclock: TrackClock, aclock: TrackClock, seconds: float = 2.0) -> None:
    writer = StreamWriter(path, KEY_ID, KEY, (160, 120))
    writer.add_stream("video")
    writer.add_stream("audio")
    for i in range(int(seconds * 50)):
        writer.write("audio", audio(i), aclock)
        for j in range(i * 3 // 5, (i + 1) * 3 // 5):  # 30 video frames a second
            writer.write("video", video(j), vclock)
    writer.finish()
    writer.pool.shutdown()


def test_a_report_gives_each_frame_its_capture_time() -> None:
    clock = TrackClock(anchor=100.0)
    assert clock.captured(0, 90000) is None and not clock.synced
    clock.origin = 5000
    clock.reported(1000 * NTP + NTP // 2, 5000 + 90000)  # RTP 1 s in is NTP 1000.5 s
    assert clock.synced
    assert clock.captured(90000, 90000) == pytest.approx(1000.5)
    assert clock.captured(0, 90000) == pytest.approx(999.5)  # before the report, too
    assert clock.arrived(90000, 90000) == pytest.approx(101.0)


def test_capture_times_follow_the_rtp_clock_across_its_wrap() -> None:
    clock = TrackClock(anchor=0.0)
    clock.origin = (1 << 32) - 48000  # a second before the 32-bit RTP time wraps
    clock.reported(50 * NTP, 24000)  # half a second after the wrap
    assert clock.captured(48000, 48000) == pytest.approx(49.5)  # the wrap itself
    assert clock.captured(96000, 48000) == pytest.approx(50.5)


def test_picture_that_arrived_late_is_put_back_beside_its_sound(tmp_path: Path) -> None:
    """The key frame reached the recorder 0.3 s after the first sound (paced out at the
    start of the connection) though both were captured together: the reports say so."""
    now = time.monotonic()
    aclock, vclock = TrackClock(now), TrackClock(now + 0.3)
    aclock.origin, vclock.origin = 7, 123456
    aclock.reported(2000 * NTP, 7)  # both streams' first frames captured at NTP 2000 s
    vclock.reported(2000 * NTP, 123456)
    record(tmp_path / "synced.webm.sealed", vclock, aclock)
    times = first_and_last(tmp_path / "synced.webm.sealed")
    assert times["audio"][0] == pytest.approx(times["video"][0], abs=0.002)
    assert times["audio"][1] == pytest.approx(1.98, abs=0.002)
    assert times["video"][1] == pytest.approx(59 / 30, abs=0.002)


def test_without_reports_each_track_is_timed_by_its_arrival(tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.setattr(writing, "SYNC_WAIT", 0.0)  # stop waiting for reports at once
    now = time.monotonic()
    aclock, vclock = TrackClock(now - 1.0), TrackClock(now - 0.7)
    record(tmp_path / "arrival.webm.sealed", vclock, aclock)
    times = first_and_last(tmp_path / "arrival.webm.sealed")
    assert times["video"][0] - times["audio"][0] == pytest.approx(0.3, abs=0.002)


def test_the_header_waits_for_every_track_s_first_report(tmp_path: Path) -> None:
    now = time.monotonic()
    aclock, vclock = TrackClock(now), TrackClock(now)
    aclock.origin = vclock.origin = 0
    vclock.reported(10 * NTP, 0)
    writer = StreamWriter(tmp_path / "wait.webm.sealed", KEY_ID, KEY, (160, 120))
    writer.add_stream("video")
    writer.add_stream("audio")
    writer.write("video", video(0), vclock)
    writer.write("audio", audio(0), aclock)
    assert not writer.started  # a key frame and sound, but no word yet on the sound's clock
    aclock.reported(10 * NTP + NTP // 10, 0)  # sound captured 0.1 s after the picture
    writer.write("audio", audio(1), aclock)
    assert writer.started and writer.synced
    writer.finish()
    writer.pool.shutdown()
    times = first_and_last(tmp_path / "wait.webm.sealed")
    assert times["audio"][0] - times["video"][0] == pytest.approx(0.1, abs=0.002)
