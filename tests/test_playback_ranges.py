"""Range requests into sealed recordings: the Range header, the chunks a range needs, the
bytes read back, and what is refused (pure functions and in-memory files)."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest

from consent.wording import KEEP_VERSION, VERSION
from media.sealed import SealedError, SealedWriter
from media.sealed_ranges import is_complete, pieces, read_index, read_range
from server.clock import now
from server.errors import Conflict, Gone
from server.recordings.availability import Unplayable, refusal, refusal_error
from server.recordings.byte_ranges import ByteRange, Unsatisfiable, byte_range
from server.recordings.indexes import Indexes
from server.recordings.viewings import Viewings
from server.store.models import Recording, RecordingState

KEY = {"k": os.urandom(32)}
SIZES = [100, 37, 100, 1, 64]  # plaintext bytes per chunk: uneven, as sealing by time makes


def sealed(sizes: list[int] = SIZES, *, close: bool = True) -> tuple[bytes, io.BytesIO]:
    """A sealed stream whose chunks hold exactly `sizes` bytes (and an empty final chunk)."""
    out = io.BytesIO()
    writer = SealedWriter(out, "k", KEY["k"], chunk=100, every=0.0)  # each write one chunk
    plain = os.urandom(sum(sizes))
    at = 0
    for size in sizes:
        writer.write(plain[at:at + size])
        at += size
    if close:
        writer.close()
    out.seek(0)
    return plain, out


# --- the Range header ------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "size", "expected"), [
    # the whole file
    (None, 1000, None),
    ("items=0-5", 1000, None),  # another unit: ignored (RFC 9110)
    # first and last bytes
    ("bytes=0-0", 1000, (0, 0)),
    ("bytes=999-999", 1000, (999, 999)),
    ("bytes=0-", 1000, (0, 999)),
    ("bytes=100-", 1000, (100, 999)),  # open range
    ("bytes=100-199", 1000, (100, 199)),
    ("bytes=500-5000", 1000, (500, 999)),  # cut at the end
    (" bytes = 10-20 ", 1000, (10, 20)),
    ("BYTES=10-20", 1000, (10, 20)),
    # suffix ranges
    ("bytes=-500", 1000, (500, 999)),
    ("bytes=-1", 1000, (999, 999)),
    ("bytes=-5000", 1000, (0, 999)),  # more than there is: all of it
])
def test_ranges_asked_for(header, size, expected):
    found = byte_range(header, size)
    assert (found if found is None else (found.first, found.last)) == expected


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=1000-", 1000),  # starts at the end
    ("bytes=2000-3000", 1000),
    ("bytes=200-100", 1000),  # backwards
    ("bytes=-0", 1000),
    ("bytes=-", 1000),
    ("bytes=abc", 1000),
    ("bytes=1-2-3", 1000),
    ("bytes=0-1,5-6", 1000),  # several ranges
    ("bytes", 1000),
    ("bytes=0-", 0),  # an empty file has no byte
    ("bytes=9999999999999999999-", 1000),  # more digits than any file
])
def test_ranges_refused(header, size):
    with pytest.raises(Unsatisfiable):
        byte_range(header, size)


def test_content_range():
    assert ByteRange(100, 199, 1000).content_range == "bytes 100-199/1000"
    assert ByteRange(100, 199, 1000).length == 100


# --- which chunks a range needs --------------------------------------------------------------

def test_the_index_is_read_from_the_lengths():
    plain, data = sealed()
    index = read_index(data)
    assert [s.length for s in index.spans] == [*SIZES, 0]  # the final chunk is empty
    assert [s.start for s in index.spans] == [0, 100, 137, 237, 238, 302]
    assert index.size == len(plain) == 302


@pytest.mark.parametrize(("first", "last", "expected"), [
    # (chunk, lo, hi) per chunk touched
    (0, 0, [(0, 0, 1)]),  # the first byte
    (301, 301, [(4, 63, 64)]),  # the last byte
    (0, 301, [(0, 0, 100), (1, 0, 37), (2, 0, 100), (3, 0, 1), (4, 0, 64)]),
    (99, 100, [(0, 99, 100), (1, 0, 1)]),  # across a chunk boundary
    (100, 136, [(1, 0, 37)]),  # exactly one chunk
    (236, 238, [(2, 99, 100), (3, 0, 1), (4, 0, 1)]),  # through a one-byte chunk
    (237, 237, [(3, 0, 1)]),
    (202, 301, [(2, 65, 100), (3, 0, 1), (4, 0, 64)]),  # what bytes=-100 asks for
])
def test_pieces(first, last, expected):
    _plain, data = sealed()
    found = pieces(read_index(data), first, last)
    assert [(s.index, lo, hi) for s, lo, hi in found] == expected


@pytest.mark.parametrize(("first", "last"), [(-1, 5), (5, 4), (0, 302), (302, 302)])
def test_pieces_outside_the_file(first, last):
    _plain, data = sealed()
    with pytest.raises(ValueError):
        pieces(read_index(data), first, last)


def test_every_range_reads_back_the_plaintext():
    plain, data = sealed()
    index = read_index(data)
    for first in range(0, len(plain), 7):
        for last in (first, min(first + 40, len(plain) - 1), len(plain) - 1):
            got = b"".join(read_range(data, index, KEY, first, last))
            assert got == plain[first:last + 1], (first, last)


def test_header_ranges_read_back_the_plaintext():
    plain, data = sealed()
    index = read_index(data)
    for header in ("bytes=-500", "bytes=-50", "bytes=100-", "bytes=0-", "bytes=99-100"):
        wanted = byte_range(header, index.size)
        assert wanted is not None
        got = b"".join(read_range(data, index, KEY, wanted.first, wanted.last))
        assert got == plain[wanted.first:wanted.last + 1], header


# --- what is refused ---------------------------------------------------------------------------

def test_chunks_swapped_fail_naming_the_chunk():
    _plain, data = sealed([100, 100, 100])
    raw = bytearray(data.getvalue())
    index = read_index(data)
    a, b = index.spans[0], index.spans[1]
    first = bytes(raw[a.at - 4:a.at + a.sealed])
    second = bytes(raw[b.at - 4:b.at + b.sealed])
    raw[a.at - 4:b.at + b.sealed] = second + first
    swapped = io.BytesIO(bytes(raw))
    with pytest.raises(SealedError, match="chunk 0 failed authentication"):
        b"".join(read_range(swapped, read_index(swapped), KEY, 0, 50))


def test_the_wrong_key_and_an_unknown_key_are_refused():
    _plain, data = sealed()
    index = read_index(data)
    with pytest.raises(SealedError, match="failed authentication"):
        b"".join(read_range(data, index, {"k": os.urandom(32)}, 0, 10))
    with pytest.raises(SealedError, match="not configured"):
        b"".join(read_range(data, index, {"other": os.urandom(32)}, 0, 10))


def test_a_file_cut_by_a_crash_plays_its_whole_chunks():
    plain, data = sealed(close=False)
    index = read_index(data)
    assert index.size == len(plain) and not is_complete(data, index, KEY)
    cut = io.BytesIO(data.getvalue()[:-30])  # the last chunk half written
    index = read_index(cut)
    assert index.size == sum(SIZES[:-1])
    assert b"".join(read_range(cut, index, KEY, 0, index.size - 1)) == plain[:index.size]
    _plain, whole = sealed()
    assert is_complete(whole, read_index(whole), KEY)


def test_a_damaged_length_is_refused():
    _plain, data = sealed()
    raw = bytearray(data.getvalue())
    at = read_index(data).spans[1].at - 4
    raw[at:at + 4] = (5).to_bytes(4, "big")  # shorter than a tag
    with pytest.raises(SealedError, match="chunk 1 is damaged"):
        read_index(io.BytesIO(bytes(raw)))


def test_a_chunk_flagged_last_in_the_middle_is_tampering():
    out = io.BytesIO()
    writer = SealedWriter(out, "k", KEY["k"], chunk=100, every=None)
    writer.write(os.urandom(150))  # chunk 0: 100 bytes
    writer.close()  # chunk 1: the other 50, flagged last
    writer._seal(os.urandom(20), last=False)  # chunk 2 after the final one (only the key can)
    out.seek(0)
    index = read_index(out)
    assert [s.length for s in index.spans] == [100, 50, 20]
    assert len(b"".join(read_range(out, index, KEY, 0, 99))) == 100
    with pytest.raises(SealedError, match="data after the final chunk 1"):
        b"".join(read_range(out, index, KEY, 120, 160))


# --- who has been audited ------------------------------------------------------------------------

def test_a_viewing_is_audited_once_then_forgotten():
    seen = Viewings(keep=60.0, most=2)
    one, two, three = (1, 5, "f", "a" * 16), (1, 5, "f", "b" * 16), (2, 5, "f", "a" * 16)
    assert not seen.known(one, at=0.0)
    seen.audited(one, at=0.0)
    assert seen.known(one, at=10.0)
    assert not seen.known(three, at=10.0)  # someone else with the same id: audited anew
    seen.audited(two, at=20.0)
    seen.audited(three, at=30.0)  # over `most`: the oldest is forgotten
    assert not seen.known(one, at=30.0) and seen.known(two, at=30.0)
    assert not seen.known(two, at=80.1)  # and after `keep`


# --- when a recording may be played ---------------------------------------------------------

def _row(**kw) -> Recording:
    at = now()
    values = dict(state=RecordingState.STOPPED, deleted_at=None, deleted_reason="",
                  retention_until=at + timedelta(days=3), stopped_reason="ended",
                  stopped_at=at, wording_version=VERSION)
    return Recording(**{**values, **kw})


@pytest.mark.parametrize(("kw", "why"), [
    ({}, None),
    ({"deleted_at": now(), "deleted_reason": "retention"}, Unplayable.DELETED_RETENTION),
    ({"deleted_at": now(), "deleted_reason": "withdrawn"}, Unplayable.DELETED_WITHDRAWN),
    ({"deleted_at": now(), "deleted_reason": "other"}, Unplayable.DELETED),
    ({"retention_until": now() - timedelta(seconds=1)}, Unplayable.EXPIRED),
    ({"stopped_reason": "withdrawn"}, Unplayable.WITHHELD),
    ({"stopped_reason": "withdrawn", "wording_version": KEEP_VERSION}, None),  # agreed to keep
    ({"state": RecordingState.RECORDING}, Unplayable.RUNNING),
    ({"state": RecordingState.PAUSED}, Unplayable.RUNNING),
    ({"state": RecordingState.FAILED}, None),  # what was written before the failure
])
def test_when_a_recording_may_be_played(kw, why):
    found = refusal(_row(**kw), now())
    assert (found.why if found else None) == why
    if found:
        error = refusal_error(found, "2 Dec 2026 10:00")
        assert isinstance(error, Conflict if why is Unplayable.RUNNING else Gone)


# --- indexes kept between range requests -----------------------------------------------------

async def test_an_index_is_kept_until_the_file_changes(tmp_path):
    path = tmp_path / "seg001-p1.webm.sealed"
    _plain, data = sealed()
    path.write_bytes(data.getvalue())
    kept = Indexes(most=1)
    with path.open("rb") as fh:
        first = await kept.of(path, fh)
    with path.open("rb") as fh:
        assert await kept.of(path, fh) is first  # not read again
    _plain, other = sealed([10, 20])
    path.write_bytes(other.getvalue())  # another size: read anew
    with path.open("rb") as fh:
        again = await kept.of(path, fh)
    assert again is not first and again.size == 30
    second = tmp_path / "seg001-p2.webm.sealed"
    second.write_bytes(data.getvalue())
    with second.open("rb") as fh:
        await kept.of(second, fh)  # over `most`: the oldest is forgotten
    with path.open("rb") as fh:
        assert await kept.of(path, fh) is not again
