"""The HTTP Range header of a media request (RFC 9110 §14), as a pure function.

One range per request, which is what a <video> element sends (`bytes=0-`, then
`bytes=N-` when it seeks). The answers:

- no Range header, or a unit other than bytes (which the RFC says to ignore): the whole file;
- `bytes=A-B`, `bytes=A-` (to the end) and `bytes=-N` (the last N bytes): that range, cut
  at the end of the file;
- anything else — malformed, backwards, starting at or past the end, several ranges, or any
  range of an empty file — `Unsatisfiable`, answered 416 with `Content-Range: bytes */size`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"(\d{0,18})-(\d{0,18})")


class Unsatisfiable(ValueError):
    """The Range header names no byte this file can send."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes `first`..`last` of a file of `size` bytes, both ends included."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The range asked for, None for the whole file; `Unsatisfiable` with the reason."""
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if not equals or "," in spec:
        raise Unsatisfiable("one range of bytes at a time, as bytes=first-last")
    found = _SPEC.fullmatch(spec.strip())
    if found is None or found[0] == "-":
        raise Unsatisfiable(f"{header.strip()[:40]!r} is not a range of bytes")
    if size == 0:
        raise Unsatisfiable("the file is empty")
    start, end = found[1], found[2]
    if not start:
        suffix = int(end)
        if suffix == 0:
            raise Unsatisfiable("the last 0 bytes are no bytes")
        return ByteRange(max(size - suffix, 0), size - 1, size)
    first = int(start)
    last = int(end) if end else size - 1
    if last < first:
        raise Unsatisfiable(f"the range ends ({last}) before it starts ({first})")
    if first >= size:
        raise Unsatisfiable(f"the file has {size} bytes; byte {first} is past its end")
    return ByteRange(first, min(last, size - 1), size)
