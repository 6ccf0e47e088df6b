"""Which viewings of a recording have been audited already, so a player's flood of range
requests is one `recording.play` entry, not hundreds.

A viewing is one opening of the playback page: the page mints a random viewing id and puts
it in its media URL. The first media request of a (person, recording, file, viewing) is
audited; the later ones of the same viewing on this process, within `KEEP` seconds, are not.
Forgetting errs towards auditing again (another process, a restart, an old viewing, a full
table), never towards serving a byte whose viewing was not audited for that person.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from aiohttp import web

KEEP = 12 * 3600.0  # seconds a viewing stays known
MOST = 10_000  # viewings remembered at once (oldest forgotten first)

Viewing = tuple[int, int, str, str]  # person, recording, file, viewing id


class Viewings:
    """The viewings this process has audited, oldest first."""

    def __init__(self, keep: float = KEEP, most: int = MOST) -> None:
        self._keep, self._most = keep, most
        self._seen: OrderedDict[Viewing, float] = OrderedDict()

    def known(self, viewing: Viewing, at: float | None = None) -> bool:
        """Whether this viewing was audited (and not yet forgotten)."""
        at = time.monotonic() if at is None else at
        self._forget(at)
        return viewing in self._seen

    def audited(self, viewing: Viewing, at: float | None = None) -> None:
        """Remember that this viewing's play is in the audit log (call after the commit)."""
        at = time.monotonic() if at is None else at
        self._seen[viewing] = at
        self._seen.move_to_end(viewing)
        self._forget(at)

    def _forget(self, at: float) -> None:
        while self._seen and (len(self._seen) > self._most
                              or next(iter(self._seen.values())) <= at - self._keep):
            self._seen.popitem(last=False)


VIEWINGS: web.AppKey[Viewings] = web.AppKey("recording_viewings", Viewings)
