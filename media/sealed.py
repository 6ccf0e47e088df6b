"""Recordings at rest: a chunked AES-256-GCM stream (the STREAM construction).

    header   = b"RAPSEAL1" | key id length (1 byte) | key id | nonce prefix (7) | chunk size (4)
    chunk i  = length (4, big-endian) | AES-GCM(key, nonce = prefix | i (4) | last (1),
                                                plaintext, associated data = header)

Every chunk is authenticated together with the header (so with the key id), its position
(the counter) and whether it is the last: chunks cannot be reordered, dropped, swapped between
files or the stream cut short without decryption failing, and it says which chunk failed.
The writer encrypts bytes as they are produced (PyAV writes to it like a file), so plaintext
never touches the disk; a crash leaves whole chunks that decrypt to a playable prefix.
"""

from __future__ import annotations

import base64
import os
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"RAPSEAL1"
CHUNK = 64 * 1024
KEY_BYTES = 32
TAG = 16  # bytes of the GCM tag after each chunk


class SealedError(Exception):
    """A sealed file that cannot be opened: wrong key, tampered, truncated or not ours."""


class TruncatedError(SealedError):
    """The stream ended without its final chunk (the writer stopped mid-way, e.g. a crash)."""


@dataclass(frozen=True)
class KeyRing:
    """Recording keys by id, and the id new recordings are sealed with."""

    keys: Mapping[str, bytes]
    current: str

    def current_key(self) -> tuple[str, bytes]:
        if not self.current or self.current not in self.keys:
            raise SealedError("no recording key is configured (RAPPORT_RECORDING_KEY_ID)")
        return self.current, self.keys[self.current]


def new_key_entry(key_id: str) -> str:
    """A fresh random key as an "id:base64" entry (for demo data, tests and operators)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def _header(key_id: str, prefix: bytes, chunk: int) -> bytes:
    encoded = key_id.encode("ascii")
    return MAGIC + bytes([len(encoded)]) + encoded + prefix + struct.pack(">I", chunk)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


class SealedWriter:
    """A write-only file object that seals what is written to it, chunk by chunk."""

    def __init__(self, out: BinaryIO, key_id: str, key: bytes, chunk: int = CHUNK,
                 every: float | None = 1.0) -> None:
        self._out = out
        self._aead = AESGCM(key)
        self._prefix = os.urandom(7)
        self._header = _header(key_id, self._prefix, chunk)
        self._chunk = chunk
        self._buffer = bytearray()
        self._index = 0
        # A chunk is sealed at least this often (seconds), so a crash loses at most that much.
        self._every = every
        self._sealed_at = time.monotonic()
        self.closed = False
        out.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed sealed file")
        self._buffer += data
        while len(self._buffer) > self._chunk:
            self._seal(bytes(self._buffer[:self._chunk]), last=False)
            del self._buffer[:self._chunk]
        if self._every is not None and self._buffer \
                and time.monotonic() - self._sealed_at >= self._every:
            self._seal(bytes(self._buffer), last=False)
            self._buffer.clear()
        return len(data)

    def _seal(self, plain: bytes, *, last: bool) -> None:
        if self._index >= 2**32 - 1:
            raise SealedError("sealed stream too long")
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, last), plain,
                                    self._header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._out.flush()
        self._index += 1
        self._sealed_at = time.monotonic()

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Seal what is left as the final chunk; the stream is complete only after this."""
        if self.closed:
            return
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self.closed = True
        self._out.flush()


def read_header(data: BinaryIO) -> tuple[str, bytes, bytes, int]:
    """Key id, nonce prefix, the header's bytes (the associated data) and the chunk size."""
    start = data.read(9)
    if len(start) < 9 or start[:8] != MAGIC:
        raise SealedError("not a sealed Rapport recording (bad header)")
    key_id_raw = data.read(start[8])
    rest = data.read(11)
    if len(key_id_raw) != start[8] or len(rest) != 11:
        raise SealedError("not a sealed Rapport recording (header cut short)")
    prefix, chunk = rest[:7], struct.unpack(">I", rest[7:])[0]
    return key_id_raw.decode("ascii", "replace"), prefix, start + key_id_raw + rest, chunk


def key_id_of(data: BinaryIO) -> str:
    """The key id a sealed stream names in its header."""
    return read_header(data)[0]


def open_sealed(data: BinaryIO, keys: Mapping[str, bytes], *,
                allow_truncated: bool = False) -> Iterator[bytes]:
    """The plaintext, chunk by chunk; `SealedError` naming the chunk that fails."""
    key_id, prefix, header, chunk = read_header(data)
    if key_id not in keys:
        raise SealedError(f"sealed with key {key_id!r}, which is not configured")
    aead = AESGCM(keys[key_id])
    index = 0
    while True:
        size_raw = data.read(4)
        if not size_raw:
            if allow_truncated:
                return
            raise TruncatedError(f"the recording ends after chunk {index - 1} without its "
                                 f"final chunk (cut short)")
        size = struct.unpack(">I", size_raw.rjust(4, b"\0"))[0]
        sealed = data.read(size) if 0 < size <= chunk + TAG else b""
        if len(size_raw) < 4 or len(sealed) != size or size < TAG:
            if allow_truncated:
                return
            raise SealedError(f"chunk {index} is damaged (length {size} does not fit)")
        plain, last = open_chunk(aead, prefix, index, sealed, header)
        yield plain
        if last:
            if data.read(1):
                raise SealedError(f"data after the final chunk {index} (tampered)")
            return
        index += 1


def open_chunk(aead: AESGCM, prefix: bytes, index: int, sealed: bytes, header: bytes
                ) -> tuple[bytes, bool]:
    """Chunk `index` decrypted, and whether it is flagged as the last one."""
    for last in (False, True):
        try:
            return aead.decrypt(_nonce(prefix, index, last), sealed, header), last
        except InvalidTag:
            continue
    raise SealedError(f"chunk {index} failed authentication: the file was altered, "
                      f"or the key is wrong")
