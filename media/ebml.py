"""EBML, the binary layout of Matroska and WebM: element IDs, sizes, and elements written.

Only what `media.seek_index` needs: reading an element's ID and size at an offset, and
encoding elements (unsigned integers, floats, nested elements) the way the specification
(RFC 8794) gives them.
"""

from __future__ import annotations

import struct

# The Matroska elements used (RFC 9559).
EBML = 0x1A45DFA3
SEGMENT = 0x18538067
SEEK_HEAD, SEEK, SEEK_ID, SEEK_POSITION = 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
VOID = 0xEC
INFO, DURATION = 0x1549A966, 0x4489
TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE = 0x1654AE6B, 0xAE, 0xD7, 0x83
CLUSTER, TIMESTAMP, SIMPLE_BLOCK = 0x1F43B675, 0xE7, 0xA3
CUES, CUE_POINT, CUE_TIME, CUE_TRACK_POSITIONS = 0x1C53BB6B, 0xBB, 0xB3, 0xB7
CUE_TRACK, CUE_CLUSTER_POSITION = 0xF7, 0xF1
VIDEO_TRACK = 1  # TrackType of a video track

UNKNOWN = object()  # the size of an element written before its end was known (a live stream)


class Incomplete(Exception):
    """More bytes are needed to read this element's header."""


def _length(first: int) -> int:
    for n in range(8):
        if first & (0x80 >> n):
            return n + 1
    raise ValueError("not an EBML variable-size integer (first byte 0)")


def header(data: bytes | bytearray | memoryview, at: int) -> tuple[int, int | object, int]:
    """The element at `at`: its ID, its size (or `UNKNOWN`) and where its body begins."""
    if at >= len(data):
        raise Incomplete
    id_len = _length(data[at])
    if at + id_len >= len(data):
        raise Incomplete
    size_len = _length(data[at + id_len])
    end = at + id_len + size_len
    if end > len(data):
        raise Incomplete
    element = int.from_bytes(data[at:at + id_len], "big")
    raw = int.from_bytes(data[at + id_len:end], "big") & ((1 << (7 * size_len)) - 1)
    size: int | object = UNKNOWN if raw == (1 << (7 * size_len)) - 1 else raw
    return element, size, end


def uint_of(body: bytes | memoryview) -> int:
    return int.from_bytes(body, "big")


def size_field(size: int, length: int | None = None) -> bytes:
    """A size as a variable-size integer, of `length` bytes (else the fewest)."""
    if length is None:
        length = 1
        while size >= (1 << (7 * length)) - 1:
            length += 1
    if size >= (1 << (7 * length)) - 1:
        raise ValueError(f"{size} does not fit in a {length}-byte size")
    return ((1 << (7 * length)) | size).to_bytes(length, "big")


def element(element_id: int, body: bytes, size_length: int | None = None) -> bytes:
    return (element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
            + size_field(len(body), size_length) + body)


def uint(element_id: int, value: int, length: int | None = None) -> bytes:
    return element(element_id, value.to_bytes(length or max(1, (value.bit_length() + 7) // 8),
                                              "big"))


def float64(element_id: int, value: float) -> bytes:
    return element(element_id, struct.pack(">d", value))


def void(length: int) -> bytes:
    """A Void element of exactly `length` bytes (at least 2), which every reader skips."""
    if length < 2:
        raise ValueError("a Void element takes at least 2 bytes")
    if length - 2 < 127:
        return element(VOID, bytes(length - 2), 1)
    return element(VOID, bytes(length - 9), 8)
