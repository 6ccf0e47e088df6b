"""Sealed recording files: round trips, and every kind of tampering fails naming the chunk."""

from __future__ import annotations

import io
import struct

import pytest

from media.sealed import (
    KeyRing,
    SealedError,
    SealedWriter,
    TruncatedError,
    key_id_of,
    new_key_entry,
    open_sealed,
)
from server.recordings.keyring import parse_keys
from server.settings import Settings, SettingsError

RING = parse_keys((new_key_entry("k1"), new_key_entry("k2")), "k1")


def seal(data: bytes, chunk: int = 16, key_id: str = "k1") -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, key_id, RING.keys[key_id], chunk=chunk)
    for start in range(0, len(data), 7):  # written in small pieces, as PyAV does
        writer.write(data[start:start + 7])
    writer.close()
    return out.getvalue()


def unseal(blob: bytes, ring: KeyRing = RING, **kw) -> bytes:
    return b"".join(open_sealed(io.BytesIO(blob), ring.keys, **kw))


def chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split a sealed blob into its header and its framed chunks."""
    header_len = 9 + blob[8] + 11
    header, rest, out = blob[:header_len], blob[header_len:], []
    while rest:
        size = struct.unpack(">I", rest[:4])[0]
        out.append(rest[:4 + size])
        rest = rest[4 + size:]
    return header, out


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 48, 1000])
def test_round_trip(size) -> None:
    data = bytes(range(256)) * 4
    data = data[:size]
    blob = seal(data)
    assert data not in blob or size < 16  # short strings may occur by chance
    assert unseal(blob) == data
    assert key_id_of(io.BytesIO(blob)) == "k1"


def test_an_older_key_still_opens_its_files() -> None:
    blob = seal(b"x" * 40, key_id="k2")
    assert unseal(blob) == b"x" * 40


# --- tampering --------------------------------------------------------------------------------

def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]


def test_a_flipped_bit_names_its_chunk() -> None:
    blob = seal(b"a" * 100)
    header, parts = chunks(blob)
    offset = len(header) + len(parts[0]) + len(parts[1]) + 10  # inside chunk 2
    with pytest.raises(SealedError, match="chunk 2 failed authentication"):
        unseal(_flip(blob, offset))


def test_reordered_chunks_fail() -> None:
    header, parts = chunks(seal(b"abcdefgh" * 8))
    swapped = header + parts[1] + parts[0] + b"".join(parts[2:])
    with pytest.raises(SealedError, match="chunk 0 failed authentication"):
        unseal(swapped)


def test_a_dropped_chunk_fails() -> None:
    header, parts = chunks(seal(b"abcdefgh" * 8))
    with pytest.raises(SealedError, match="chunk 1 failed authentication"):
        unseal(header + parts[0] + b"".join(parts[2:]))


def test_a_changed_header_fails_every_chunk() -> None:
    blob = seal(b"z" * 40)
    with pytest.raises(SealedError, match="chunk 0 failed authentication"):
        unseal(_flip(blob, 9 + 2 + 3))  # inside the nonce prefix


def test_the_wrong_key_fails() -> None:
    other = parse_keys((new_key_entry("k1"),), "k1")
    with pytest.raises(SealedError, match="chunk 0 failed authentication"):
        unseal(seal(b"secret"), other)


def test_an_unknown_key_id_says_so() -> None:
    other = parse_keys((new_key_entry("k9"),), "k9")
    with pytest.raises(SealedError, match="key 'k1', which is not configured"):
        unseal(seal(b"secret"), other)


def test_data_after_the_end_fails() -> None:
    with pytest.raises(SealedError, match="after the final chunk"):
        unseal(seal(b"abc") + b"more")


def test_not_a_sealed_file() -> None:
    with pytest.raises(SealedError, match="bad header"):
        unseal(b"\x1aE\xdf\xa3 plain matroska")


# --- a crash ----------------------------------------------------------------------------------

def test_a_cut_stream_is_detected_and_its_prefix_readable() -> None:
    header, parts = chunks(seal(b"0123456789abcdef" * 5))
    cut = header + b"".join(parts[:3])
    with pytest.raises(TruncatedError, match="without its final chunk"):
        unseal(cut)
    assert unseal(cut, allow_truncated=True) == (b"0123456789abcdef" * 3)
    # Half a chunk at the end (the writer died mid-write) is dropped, the rest kept.
    assert unseal(cut + parts[3][:9], allow_truncated=True) == b"0123456789abcdef" * 3


def test_a_writer_that_never_closed_leaves_whole_chunks_only() -> None:
    out = io.BytesIO()
    writer = SealedWriter(out, "k1", RING.keys["k1"], chunk=16, every=None)
    writer.write(b"q" * 40)  # two full chunks sealed, 8 bytes still in memory
    assert b"q" * 8 not in out.getvalue()
    assert unseal(out.getvalue(), allow_truncated=True) == b"q" * 32


# --- keys in settings -------------------------------------------------------------------------

@pytest.mark.parametrize(("keys", "current", "problem"), [
    (("nocolon",), "", "expected id:base64"),
    (("k1:not base64!",), "k1", "not valid base64"),
    (("k1:c2hvcnQ=",), "k1", "must be 32 bytes, got 5"),
    ((new_key_entry("k1"),), "k2", "'k2' is not among the recording keys"),
])
def test_bad_keys_are_refused_at_start(keys, current, problem) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings(recording_keys=keys, recording_key_id=current).validate()


def test_no_current_key_means_no_recording() -> None:
    with pytest.raises(SealedError, match="no recording key"):
        parse_keys((new_key_entry("k1"),), "").current_key()
