"""A seek index and a duration for recordings written as a stream.

The recorder writes each WebM file as a live stream, never going back (every byte is sealed
as it is produced): so the muxer leaves out what needs the end first, the Cues (where each
key frame is) and the Duration, and the Segment's size is "unknown". A player then shows no
length, and to seek it reads every cluster before the point wanted (an hour of video is a
few hundred megabytes, decrypted on the way).

`SeekIndex` watches the muxer's output as it passes to the seal: where the Segment's data
begins, the header's SeekHead, Void and Info, the video track's number, where the first
cluster begins, and each cluster's key frames. At the end of the file it appends a footer,
a Void element (which every reader skips) holding what a seekable file would have: a Cues
element (one cue per video key frame; per cluster for sound alone), to be put before the
first cluster, where players read it on opening (Chromium, finding the Cues only at the
end, reads the whole file through to reach them before its first seek: 54 s for an hour
on a 20 Mbit/s line, `bench/playback.py`); and a patch of the file's front (the Segment's
size, a SeekHead that also points at those Cues, the Info with the Duration), exactly as
long as what it replaces (the muxer leaves a Void behind its SeekHead for this). The Cues'
positions already count their own length. The footer also says when the file began, in
milliseconds from the start of its part of the recording, so people's files play side by
side in step.

Whoever serves the file (`served_range`, `served_size`) gives the player the front with the
patch laid over it (`overlay`), the Cues, then the clusters, and not the footer: a file
with a length and an index. A file cut short by a crash has no footer and is served as
written. Nothing here decrypts or keeps plaintext; the footer is sealed with the rest.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from media import ebml

log = logging.getLogger("rapport.recorder")

MAGIC = b"RapSeek1"  # ends every file that has a footer
TAIL = 12  # the footer's last bytes: its length (4) and MAGIC
# patch offset, start (ms, or NO_START), patch length, where the Cues go, where the muxer's
# output ended (the footer follows it), the Cues' length
_HEAD = struct.Struct(">QqHQQI")
NO_START = -(1 << 63)
_SEGMENT_SIZE = 8  # bytes of the Segment's size field that the patch rewrites
_FRONT = (ebml.SEEK_HEAD, ebml.VOID)  # what may lie between the Segment's start and Info
_GATHERED = (ebml.CLUSTER, ebml.TRACKS, ebml.INFO, ebml.SEEK_HEAD)  # read whole


@dataclass(frozen=True, slots=True)
class Footer:
    """What a finished file's footer says."""

    patch_at: int  # where the patch goes in the plaintext
    patch: bytes
    start_ms: int | None  # when the file began, from the start of its part
    insert_at: int  # where the Cues go: before the first cluster
    real_end: int  # where the muxer's output ended (the served file ends there)
    cues: bytes


class SeekIndex:
    """The muxer's output, watched as it is written (in the writer's thread)."""

    def __init__(self) -> None:
        self.written = 0
        self._buf = bytearray()  # bytes not consumed yet: a header, or an element gathered
        self._at = 0  # where `_buf` begins in the file
        self._skip = 0  # bytes of an element's body still to pass over
        self.segment_data: int | None = None  # where the Segment's children begin
        self.front: dict[int, tuple[int, int]] = {}  # SeekHead, Void: (offset, length)
        self.info: tuple[int, int, bytes] | None = None  # offset, length, body
        self.seeks: list[tuple[bytes, int]] = []  # the SeekHead's (element ID, position)
        self.video_track: int | None = None
        self.cues: list[tuple[int, int, int]] = []  # (ms, track, cluster position)
        self.last_ms = 0
        self.clusters = 0
        self.first_cluster: int | None = None  # its position in the Segment's data
        self.broken = False  # a layout this does not know: the file is left as written

    def feed(self, data: bytes) -> None:
        self.written += len(data)
        if self.broken:
            return
        if self._skip:
            passed = min(self._skip, len(data))
            self._skip -= passed
            self._at += passed
            data = data[passed:]
        self._buf += data
        try:
            while self._buf and not self._skip:
                if not self._next():
                    break
        except Exception:  # noqa: BLE001 - never in the way of the file itself
            self._give_up("the muxer's output could not be read")

    def _next(self) -> bool:
        """Consume one element (or the Segment's header); False if more bytes are needed."""
        try:
            element, size, body = ebml.header(self._buf, 0)
        except ebml.Incomplete:
            return False
        if element == ebml.SEGMENT:
            if body != 4 + _SEGMENT_SIZE:
                self._give_up("the Segment's size field is not 8 bytes")
                return False
            self.segment_data = self._at + body
            self._consume(body)
            return True
        if size is ebml.UNKNOWN or not isinstance(size, int):
            self._give_up("an element of unknown size inside the Segment")
            return False
        total = body + size
        if element in _GATHERED:
            if len(self._buf) < total:
                return False
            self._gathered(element, self._at, total, bytes(self._buf[body:total]))
            self._consume(total)
            return True
        if element in _FRONT and not self.clusters and element not in self.front:
            self.front[element] = (self._at, total)
        if len(self._buf) >= total:
            self._consume(total)
        else:
            self._skip = total - len(self._buf)
            self._at += len(self._buf)
            self._buf.clear()
        return True

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        self._at += n

    def _give_up(self, why: str) -> None:
        if not self.broken:
            log.warning("recording written without a seek index", extra={"reason": why})
        self.broken = True
        self._buf.clear()

    def _gathered(self, element: int, at: int, total: int, body: bytes) -> None:
        if element == ebml.SEEK_HEAD:
            if self.clusters or element in self.front:
                return
            self.front[element] = (at, total)
            for seek in _children(body, ebml.SEEK):
                fields = dict(_fields(seek))
                if ebml.SEEK_ID in fields and ebml.SEEK_POSITION in fields:
                    self.seeks.append((fields[ebml.SEEK_ID],
                                       ebml.uint_of(fields[ebml.SEEK_POSITION])))
        elif element == ebml.INFO and self.info is None:
            self.info = (at, total, body)
        elif element == ebml.TRACKS:
            for entry in _children(body, ebml.TRACK_ENTRY):
                fields = dict(_fields(entry))
                if ebml.uint_of(fields.get(ebml.TRACK_TYPE, b"")) == ebml.VIDEO_TRACK:
                    self.video_track = ebml.uint_of(fields.get(ebml.TRACK_NUMBER, b"\x01"))
        elif element == ebml.CLUSTER and self.segment_data is not None:
            self._cluster(at - self.segment_data, body)

    def _cluster(self, position: int, body: bytes) -> None:
        if self.first_cluster is None:
            self.first_cluster = position
        self.clusters += 1
        start = 0
        cued = False
        for element, value in _fields(body):
            if element == ebml.TIMESTAMP:
                start = ebml.uint_of(value)
            elif element == ebml.SIMPLE_BLOCK and len(value) >= 4:
                track_len = 1 if value[0] & 0x80 else 2
                track = int.from_bytes(value[:track_len], "big") & (0x7F if track_len == 1
                                                                   else 0x3FFF)
                ms = start + struct.unpack(">h", value[track_len:track_len + 2])[0]
                self.last_ms = max(self.last_ms, ms)
                key = bool(value[track_len + 2] & 0x80)
                if self.video_track is not None:
                    if track == self.video_track and key:
                        self.cues.append((ms, track, position))
                elif not cued:  # sound alone: every frame is a key frame; a cue a cluster
                    self.cues.append((ms, track, position))
                    cued = True

    def tail(self, start_ms: int | None) -> bytes:
        """The footer, to append after the muxer's last byte ("" if the file's layout did
        not allow it): the Cues, for whoever serves the file to put before its first
        cluster (where players read them on opening), and the patch of the front."""
        data = self.segment_data
        if self.broken or not self.cues or data is None or self._buf \
                or self.first_cluster is None:
            return b""
        insert_at, real_end = data + self.first_cluster, self.written

        def cues(shift: int) -> bytes:  # fixed-width numbers: the length is the same for any
            return ebml.element(ebml.CUES, b"".join(
                ebml.element(ebml.CUE_POINT, ebml.uint(ebml.CUE_TIME, ms, 8) + ebml.element(
                    ebml.CUE_TRACK_POSITIONS, ebml.uint(ebml.CUE_TRACK, track, 1)
                    + ebml.uint(ebml.CUE_CLUSTER_POSITION, position + shift, 8)))
                for ms, track, position in self.cues), 8)

        inserted = cues(len(cues(0)))  # every cluster moves back by the Cues' length
        patched = self._patch(insert_at - data, real_end + len(inserted))
        if patched is None:
            return b""
        at, patch = patched
        footer_len = 9 + _HEAD.size + len(patch) + len(inserted) + TAIL
        body = (_HEAD.pack(at, NO_START if start_ms is None else start_ms, len(patch),
                           insert_at, real_end, len(inserted))
                + patch + inserted + struct.pack(">I", footer_len) + MAGIC)
        footer = ebml.element(ebml.VOID, body, 8)
        assert len(footer) == footer_len
        return footer

    def _patch_len(self) -> int:
        info = self.front.get(ebml.SEEK_HEAD), self.info
        if info[0] is None or info[1] is None or self.segment_data is None:
            return 0
        return info[1][0] + info[1][1] - (self.segment_data - _SEGMENT_SIZE)

    def _patch(self, cues_position: int, total: int) -> tuple[int, bytes] | None:
        """The front rewritten: Segment size, SeekHead (with the Cues), Void, Info (with the
        Duration), exactly as long as the bytes from the size field to the Info's end."""
        head, info = self.front.get(ebml.SEEK_HEAD), self.info
        data = self.segment_data
        if head is None or info is None or data is None or head[0] != data:
            return None
        between = [span for span in self.front.values() if data <= span[0] < info[0]]
        if sum(length for _, length in between) != info[0] - data:
            return None  # something else lies between the SeekHead and the Info
        end = info[0] + info[1]
        fields = [(e, v) for e, v in _fields(info[2]) if e != ebml.DURATION]
        info_body = b"".join(_encode(e, v) for e, v in fields) + ebml.float64(
            ebml.DURATION, float(self.last_ms + 20))  # + one 20 ms sound frame
        for size_length in (None, 2, 3):
            new_info = ebml.element(ebml.INFO, info_body, size_length)
            info_at = end - len(new_info)
            seeks = [(sid, info_at - data if sid == _id(ebml.INFO) else pos)
                     for sid, pos in self.seeks if sid != _id(ebml.CUES)]
            seeks.append((_id(ebml.CUES), cues_position))
            new_head = ebml.element(ebml.SEEK_HEAD, b"".join(
                ebml.element(ebml.SEEK, ebml.element(ebml.SEEK_ID, sid)
                             + ebml.uint(ebml.SEEK_POSITION, pos, 8)) for sid, pos in seeks))
            gap = info_at - data - len(new_head)
            if gap == 0 or gap >= 2:
                patch = (ebml.size_field(total - data, _SEGMENT_SIZE) + new_head
                         + (ebml.void(gap) if gap else b"") + new_info)
                assert len(patch) == end - (data - _SEGMENT_SIZE)
                return data - _SEGMENT_SIZE, patch
            if gap < 0:
                return None
        return None


def _id(element: int) -> bytes:
    return element.to_bytes((element.bit_length() + 7) // 8, "big")


def _encode(element: int, value: bytes) -> bytes:
    return ebml.element(element, value)


def _fields(body: bytes) -> Iterator[tuple[int, bytes]]:
    """The child elements of a whole element's body: (ID, body)."""
    at = 0
    while at < len(body):
        element, size, start = ebml.header(body, at)
        if not isinstance(size, int) or start + size > len(body):
            raise ValueError("an element runs past its parent")
        yield element, body[start:start + size]
        at = start + size


def _children(body: bytes, wanted: int) -> Iterator[bytes]:
    return (value for element, value in _fields(body) if element == wanted)


# --- reading a footer, laying its patch over what is served -----------------------------

def read_footer(read: Callable[[int, int], bytes], size: int) -> Footer | None:
    """The footer of a plaintext of `size` bytes, `read(first, last)` giving any of them."""
    if size < TAIL:
        return None
    length = footer_length(read(size - TAIL, size - 1))
    if length is None or length > size:
        return None
    footer = parse_footer(read(size - length, size - 1))
    if footer is None or footer.real_end != size - length or not (
            footer.patch_at + len(footer.patch) <= footer.insert_at <= footer.real_end):
        return None
    return footer


def footer_length(last: bytes) -> int | None:
    """The footer's length, from the file's last `TAIL` bytes (None: no footer)."""
    if len(last) != TAIL or last[4:] != MAGIC:
        return None
    length: int = struct.unpack(">I", last[:4])[0]
    return length


def parse_footer(footer: bytes) -> Footer | None:
    """The footer (the file's last `footer_length` bytes), or None if it is not one."""
    if len(footer) < 9 + _HEAD.size + TAIL or footer[:9] != ebml.VOID.to_bytes(
            1, "big") + ebml.size_field(len(footer) - 9, 8):
        return None
    at, start, length, insert_at, real_end, cues_len = _HEAD.unpack_from(footer, 9)
    begin = 9 + _HEAD.size
    if begin + length + cues_len + TAIL != len(footer):
        return None
    return Footer(at, footer[begin:begin + length], None if start == NO_START else start,
                  insert_at, real_end, footer[begin + length:begin + length + cues_len])


def served_size(footer: Footer | None, size: int) -> int:
    """The length of the file as served: the muxer's output with the Cues put in."""
    return size if footer is None else footer.real_end + len(footer.cues)


def served_range(read: Callable[[int, int], Iterable[bytes]], footer: Footer | None,
                 first: int, last: int) -> Iterator[bytes]:
    """Bytes `first`..`last` (inclusive) of the file as served, from `read(a, b)`, which
    gives the plaintext's bytes a..b in pieces: the front with its patch, the Cues, then
    every cluster, one Cues' length further on than in the file; the footer is not served.
    Without a footer, the plaintext as it is."""
    if footer is None:
        yield from read(first, last)
        return
    cut, length = footer.insert_at, len(footer.cues)
    if first < cut:
        yield from overlay(read(first, min(last, cut - 1)), first, footer)
    lo, hi = max(first, cut), min(last, cut + length - 1)
    if lo <= hi:
        yield footer.cues[lo - cut:hi - cut + 1]
    lo = max(first, cut + length)
    if lo <= last:
        yield from read(lo - length, last - length)


def overlay(pieces: Iterable[bytes], first: int, footer: Footer | None) -> Iterator[bytes]:
    """The plaintext pieces of a range starting at byte `first`, with the footer's patch
    laid over the bytes it replaces."""
    at = first
    for piece in pieces:
        if footer is not None and footer.patch:
            lo, hi = max(at, footer.patch_at), min(at + len(piece), footer.patch_at
                                                   + len(footer.patch))
            if lo < hi:
                laid = bytearray(piece)
                laid[lo - at:hi - at] = footer.patch[lo - footer.patch_at:hi - footer.patch_at]
                piece = bytes(laid)
        at += len(piece)
        yield piece
