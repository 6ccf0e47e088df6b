"""Recordings written as a stream still seek and show their length: the writer appends a
seek index (Cues) and a footer whose patch of the front (Segment size, SeekHead, Info with
the Duration) is laid over the file wherever it is served."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import pytest

from media import ebml, seek_index
from media.lipsync import TrackClock
from media.passthrough import Encoded
from media.sealed import open_sealed
from media.seek_index import SeekIndex, parse_footer, read_footer, served_range, served_size
from media.writer import StreamWriter
from tests.test_lipsync import KEY, KEY_ID, OPUS, VP8_DELTA, VP8_KEY

KEY_EVERY = 150  # video frames between key frames (5 s at 30 fps)


def streamed(path: Path, seconds: int, *, began: float | None = 1.5, finish: bool = True
             ) -> StreamWriter:
    """A file written as the recorder writes it: VP8 and Opus as sent, a key frame every
    5 s, frames big enough that a minute is a few megabytes."""
    now = time.monotonic()
    aclock, vclock = TrackClock(now), TrackClock(now)
    for clock in (aclock, vclock):  # both captured from NTP 3000 s, reported at once
        clock.origin = 0
        clock.reported(3000 << 32, 0, now)
    writer = StreamWriter(path, KEY_ID, KEY, (160, 120))
    writer.epoch = None if began is None else now - began
    writer.add_stream("video")
    writer.add_stream("audio")
    for i in range(seconds * 50):
        writer.write("audio", Encoded("audio", "opus", OPUS, i * 960, 48000), aclock)
        for j in range(i * 3 // 5, (i + 1) * 3 // 5):
            data = VP8_KEY + bytes(6000) if j % KEY_EVERY == 0 else VP8_DELTA + bytes(1500)
            writer.write("video", Encoded("video", "vp8", data, j * 3000, 90000), vclock)
    if finish:
        writer.finish()
        writer.pool.shutdown()
    return writer


def plain(path: Path) -> bytes:
    with path.open("rb") as fh:
        return b"".join(open_sealed(fh, {KEY_ID: KEY}, allow_truncated=True))


def reader(data: bytes, piece: int = 4096):  # type: ignore[no-untyped-def]
    """`read(a, b)` over a plaintext, in pieces as the sealed chunks come."""
    return lambda a, b: (data[i:min(i + piece, b + 1)] for i in range(a, b + 1, piece))


def served(data: bytes, piece: int = 4096) -> bytes:
    """The whole file as the server sends it."""
    footer = read_footer(lambda a, b: data[a:b + 1], len(data))
    return b"".join(served_range(reader(data, piece), footer, 0,
                                 served_size(footer, len(data)) - 1))


class Counting(io.RawIOBase):
    """A file that counts the bytes a player reads from it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.read_bytes = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        got = self.data.read(len(buffer))
        buffer[:len(got)] = got
        self.read_bytes += len(got)
        return len(got)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.data.seek(offset, whence)

    def tell(self) -> int:
        return self.data.tell()


def bytes_to_seek(data: bytes, to: float) -> tuple[int, float]:
    """Bytes read to seek to `to` seconds and demux the next video frame; its time."""
    source = Counting(data)
    with av.open(source, buffer_size=4096) as container:
        opened = source.read_bytes
        container.seek(int(to * 1_000_000))
        packet = next(container.demux(container.streams.video[0]))
        assert packet.pts is not None and packet.time_base is not None
        return source.read_bytes - opened, float(packet.pts * packet.time_base)


def test_a_long_recording_seeks_without_reading_what_is_before(tmp_path: Path) -> None:
    streamed(tmp_path / "long.webm.sealed", 120)
    data = plain(tmp_path / "long.webm.sealed")
    assert len(data) > 5_000_000
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is None  # as written: a live stream, no length
    fixed = served(data)
    footer = read_footer(lambda a, b: data[a:b + 1], len(data))
    assert footer is not None and len(fixed) == footer.real_end + len(footer.cues)
    with av.open(io.BytesIO(fixed)) as container:
        assert container.duration == pytest.approx(120_000_000, abs=100_000)
        frames = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
        assert frames == 120 * 30  # every frame is still there
    unindexed, _ = bytes_to_seek(data, 110.0)
    indexed, landed = bytes_to_seek(fixed, 110.0)
    print(f"\nseek to 110 s of 120: {unindexed} bytes read without the index, {indexed} with")
    assert landed == pytest.approx(110.0, abs=0.01)  # the key frame there (one each 5 s)
    assert indexed * 50 < unindexed
    # The Cues come before the first cluster, so a player has them on opening.
    at = footer.insert_at
    assert fixed[at:at + 4] == ebml.CUES.to_bytes(4, "big")
    assert fixed[at + len(footer.cues):at + len(footer.cues) + 4] == \
        ebml.CLUSTER.to_bytes(4, "big")


def test_the_footer_says_when_the_file_began(tmp_path: Path) -> None:
    streamed(tmp_path / "a.webm.sealed", 2, began=1.5)
    streamed(tmp_path / "b.webm.sealed", 2, began=None)
    footers = [read_footer(lambda a, b, d=d: d[a:b + 1], len(d))
               for d in (plain(tmp_path / "a.webm.sealed"), plain(tmp_path / "b.webm.sealed"))]
    assert footers[0] is not None and footers[0].start_ms == 1500
    assert footers[1] is not None and footers[1].start_ms is None  # the index all the same


def test_a_file_cut_short_has_no_footer_and_is_served_as_written(tmp_path: Path) -> None:
    writer = streamed(tmp_path / "cut.webm.sealed", 10, finish=False)  # what a crash
    # leaves: the chunks sealed so far, no final chunk
    writer.raw.close()
    data = plain(tmp_path / "cut.webm.sealed")
    assert data and read_footer(lambda a, b: data[a:b + 1], len(data)) is None
    assert served(data) == data


@pytest.mark.parametrize("piece", [1, 7, 41, 64 * 1024])
def test_any_range_is_that_part_of_the_served_file(tmp_path: Path, piece: int) -> None:
    streamed(tmp_path / "p.webm.sealed", 2)
    data = plain(tmp_path / "p.webm.sealed")
    footer = read_footer(lambda a, b: data[a:b + 1], len(data))
    assert footer is not None
    whole = served(data, 1 << 20)
    edges = [0, footer.patch_at, footer.patch_at + len(footer.patch), footer.insert_at,
             footer.insert_at + len(footer.cues), len(whole) - 1]
    for first in edges:
        for last in edges:
            for a, b in ((first, last), (max(first - 3, 0), min(last + 5, len(whole) - 1))):
                if a <= b:
                    got = b"".join(served_range(reader(data, piece), footer, a, b))
                    assert got == whole[a:b + 1], (a, b)


def test_a_layout_it_does_not_know_is_left_as_written() -> None:
    index = SeekIndex()
    index.feed(ebml.element(ebml.EBML, b"\x42\x86\x81\x01"))
    index.feed(bytes.fromhex("18538067") + b"\xff")  # a Segment with a 1-byte unknown size
    assert index.broken and index.tail(0) == b""
    assert parse_footer(b"not a footer") is None
    assert seek_index.footer_length(b"\x00" * seek_index.TAIL) is None
