"""The chunk indexes of recently played files, so a player's range requests do not each
re-read every chunk length of a long recording (an hour of video is some 17 000 chunks;
reading their lengths takes a few hundred milliseconds on a busy machine); and their seek
index footers (`media.seek_index`: the patch that gives the player a length and the Cues,
and when the file began), read once from the file's last chunk.

Only files that may be played are indexed, and those are finished (never written again), so
an index stays true; it is keyed by the file's path, size and modification time all the
same, so a file that did change is indexed anew. An index holds only where chunks are and
how long (in the clear in the file anyway), never plaintext.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from media.sealed_ranges import SealedIndex, read_index, read_range
from media.seek_index import Footer, read_footer

MOST = 8  # indexes kept (the newest used); about 2 MB each for an hour of video

_Key = tuple[str, int, int]


class Indexes:
    """The newest-used chunk indexes of sealed files, by path, size and modification time."""

    def __init__(self, most: int = MOST) -> None:
        self._most = most
        self._kept: OrderedDict[_Key, SealedIndex] = OrderedDict()
        self._footers: dict[_Key, Footer | None] = {}

    async def of(self, path: Path, fh: BinaryIO) -> SealedIndex:
        """The index of the open file `fh` at `path` (read in a thread when not kept)."""
        stat = os.fstat(fh.fileno())  # the file opened, whatever the path names now
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        found = self._kept.get(key)
        if found is None:
            found = await asyncio.to_thread(read_index, fh)
            self._kept[key] = found
            while len(self._kept) > self._most:
                self._footers.pop(self._kept.popitem(last=False)[0], None)
        self._kept.move_to_end(key)
        return found

    async def footer(self, path: Path, fh: BinaryIO, keys: Mapping[str, bytes]
                     ) -> Footer | None:
        """The seek index footer of the open file (None: it has none, e.g. cut short);
        `SealedError` if its last chunk does not decrypt."""
        index = await self.of(path, fh)
        stat = os.fstat(fh.fileno())
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._footers:
            def read(first: int, last: int) -> bytes:
                return b"".join(read_range(fh, index, keys, first, last))

            self._footers[key] = await asyncio.to_thread(read_footer, read, index.size)
        return self._footers[key]


INDEXES: web.AppKey[Indexes] = web.AppKey("recording_indexes", Indexes)
