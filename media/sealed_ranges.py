"""Random access into a sealed recording: any byte range of the plaintext, decrypting only
the chunks that hold it.

Chunks have no fixed plaintext size (one is sealed when 64 KiB are ready or after a second,
whichever comes first), but every chunk starts with its sealed length in the clear. So the
index is read from those lengths alone (one 4-byte read and a seek per chunk, nothing
decrypted, nothing added to the format): chunk i holds the plaintext bytes
[start_i, start_i + length_i - 16). A range is then mapped to the chunks it touches, and each
of them is read, authenticated with its own counter and decrypted in turn, so at most one
chunk of plaintext is held in memory at a time and none is written anywhere.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from media.sealed import TAG, SealedError, open_chunk, read_header


@dataclass(frozen=True, slots=True)
class Span:
    """One chunk: its number, where its sealed bytes are, and where its plaintext begins."""

    index: int  # the chunk's counter in its nonce
    at: int  # file offset of its sealed bytes (after the 4-byte length)
    sealed: int  # sealed length (plaintext and tag)
    start: int  # offset of its first plaintext byte in the whole recording

    @property
    def length(self) -> int:
        return self.sealed - TAG

    @property
    def end(self) -> int:
        """One past its last plaintext byte."""
        return self.start + self.length


@dataclass(frozen=True)
class SealedIndex:
    """Where every whole chunk of a sealed file is, and the plaintext size they make."""

    key_id: str
    prefix: bytes
    header: bytes
    spans: tuple[Span, ...]

    @property
    def size(self) -> int:
        return self.spans[-1].end if self.spans else 0


def read_index(data: BinaryIO) -> SealedIndex:
    """The index of a sealed stream, from the chunks' lengths alone (nothing decrypted).

    A chunk cut short at the end of the file (a crash while writing it) ends the index, as
    it ends `open_sealed(..., allow_truncated=True)`; a length that cannot be a chunk's, with
    more file after it, is damage and raises `SealedError`.
    """
    key_id, prefix, header, chunk = read_header(data)
    total = data.seek(0, 2)
    spans: list[Span] = []
    at, start = len(header), 0
    while at + 4 <= total:
        data.seek(at)
        size = struct.unpack(">I", data.read(4))[0]
        if at + 4 + size > total:
            break
        if not TAG <= size <= chunk + TAG:
            raise SealedError(f"chunk {len(spans)} is damaged (length {size} does not fit)")
        spans.append(Span(len(spans), at + 4, size, start))
        start += size - TAG
        at += 4 + size
    return SealedIndex(key_id, prefix, header, tuple(spans))


def pieces(index: SealedIndex, first: int, last: int) -> list[tuple[Span, int, int]]:
    """The chunks holding plaintext bytes `first`..`last` (inclusive), each with the slice
    [lo, hi) of its own plaintext that falls in the range. Empty chunks are left out."""
    if not 0 <= first <= last < index.size:
        raise ValueError(f"bytes {first}-{last} are outside 0-{index.size - 1}")
    spans = index.spans
    i = max(bisect_right(spans, first, key=lambda s: s.start) - 1, 0)
    out: list[tuple[Span, int, int]] = []
    while i < len(spans) and spans[i].start <= last:
        span = spans[i]
        if span.length and span.end > first:
            out.append((span, max(first - span.start, 0), min(last + 1, span.end) - span.start))
        i += 1
    return out


def read_range(data: BinaryIO, index: SealedIndex, keys: Mapping[str, bytes], first: int,
               last: int) -> Iterator[bytes]:
    """Plaintext bytes `first`..`last` (inclusive), one chunk's worth at a time.

    Each chunk is authenticated with its own position, so a chunk moved, swapped or taken
    from another file fails (`SealedError` naming it), as does a chunk flagged last that is
    not at the end of the file.
    """
    if index.key_id not in keys:
        raise SealedError(f"sealed with key {index.key_id!r}, which is not configured")
    aead = AESGCM(keys[index.key_id])
    for span, lo, hi in pieces(index, first, last):
        yield _plain(data, aead, index, span)[lo:hi]


def is_complete(data: BinaryIO, index: SealedIndex, keys: Mapping[str, bytes]) -> bool:
    """Whether the file ends with its final chunk (False: cut short, e.g. by a crash)."""
    if not index.spans or index.key_id not in keys:
        return False
    aead = AESGCM(keys[index.key_id])
    span = index.spans[-1]
    data.seek(span.at)
    return open_chunk(aead, index.prefix, span.index, data.read(span.sealed), index.header)[1]


def _plain(data: BinaryIO, aead: AESGCM, index: SealedIndex, span: Span) -> bytes:
    data.seek(span.at)
    plain, last = open_chunk(aead, index.prefix, span.index, data.read(span.sealed),
                             index.header)
    if last and span is not index.spans[-1]:
        raise SealedError(f"data after the final chunk {span.index} (tampered)")
    return plain
