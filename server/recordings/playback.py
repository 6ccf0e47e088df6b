"""Playing a recording in the page: the playback page and the range-serving media URL.

The same people as the download (the session's practitioner and their team's supervisor;
`views.visible`), and only while the recording may be played (`availability.refusal`). The
media URL decrypts on the fly: it reads the file's chunk index (`media.sealed_ranges`),
answers each Range request (206, or 416) by decrypting only the chunks that hold it, one at
a time, straight into the response. Nothing decrypted is written anywhere or kept.

Audit: opening the page is `recording.view`; the first media request of a viewing (the page
mints a viewing id for its media URL) is `recording.play`, once per viewing, not per range
request (`viewings.py` says exactly when it repeats).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from aiohttp import hdrs, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from media.sealed import SealedError
from media.sealed_ranges import SealedIndex, is_complete, read_range
from media.seek_index import Footer, served_range, served_size
from media.writer import media_type
from server import keys
from server.clock import now
from server.errors import N_, AppError, BadRequest, NotFound
from server.recordings.availability import ensure_playable
from server.recordings.byte_ranges import ByteRange, Unsatisfiable, byte_range
from server.recordings.indexes import INDEXES, Indexes
from server.recordings.keyring import key_ring
from server.recordings.lifecycle import folder_of
from server.recordings.viewings import VIEWINGS, Viewings
from server.recordings.views import RecordingUnreadable, files_of, recording_id, visible
from server.staff.access import allow
from server.store import audit
from server.store.keys import USER
from server.store.models import (
    Appointment,
    ContactRecord,
    Participant,
    Recording,
    Role,
    User,
)

log = logging.getLogger("rapport.recordings")

VIEWING = re.compile(r"[A-Za-z0-9_-]{16,43}")
_OWNER = re.compile(r"seg(\d{1,4})-p(\d{1,10})\.")
SIDE_BY_SIDE = 4  # files one page plays at once (each person's camera, one segment)


@dataclass(frozen=True)
class Player:
    """One <video> of the playback page: a file, whose it is, its media URL."""

    file: str
    person: Participant | None
    media: str
    complete: bool  # False: the file ends early (cut short by a crash)
    start: float | None  # when the file began, seconds into its part (None: not known)


class RangeNotSatisfiable(AppError):
    status = 416
    slug = "range-not-satisfiable"
    title = N_("That part of the recording does not exist")


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[keys.SETTINGS].timezone)


async def _playable(db: AsyncSession, request: web.Request, user: User
                    ) -> tuple[Recording, Appointment, dict[str, Path]]:
    """The recording if it is the caller's to see and may be played, and its files."""
    row, appointment = await visible(db, user, recording_id(request))
    ensure_playable(row, now(), _zone(request))
    return row, appointment, {p.name: p for p in files_of(folder_of(request.app), row)}


def _file(files: dict[str, Path], name: str) -> Path:
    if name not in files:
        raise NotFound(N_("This recording has no file called {name}."), name=name[:80])
    return files[name]


async def _whose(db: AsyncSession, row: Recording, name: str) -> Participant | None:
    """The person whose camera and microphone the file holds (its name says `-p<id>`)."""
    owner = _OWNER.match(name)
    person = await db.get(Participant, int(owner[2])) if owner else None
    return person if person is not None and person.appointment_id == row.appointment_id \
        else None


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def playback_page(request: web.Request) -> web.Response:
    """Files of a recording played in the page (`?file=` once per file: one person's, or
    several side by side); opening it is audited."""
    from server.render import render

    user = request[USER]
    assert user is not None
    names = list(dict.fromkeys(request.query.getall("file", [])))
    if len(names) > SIDE_BY_SIDE:
        raise BadRequest(N_("At most {most} files play side by side."), most=SIDE_BY_SIDE)
    async with request.app[keys.DB].begin() as db:
        row, appointment, files = await _playable(db, request, user)
        paths = [_file(files, name) for name in names or [""]]
        audit.record(db, request, "recording.view", "recording", row.id,
                     client_id=appointment.client_id, file=" ".join(names))
        people = [await _whose(db, row, name) for name in names]
        contact_id = await db.scalar(select(ContactRecord.contact_id).where(
            ContactRecord.appointment_id == appointment.id))
    ring = dict(key_ring(request.app[keys.SETTINGS]).keys)
    known = [await _complete(request, path, ring) for path in paths]
    viewing = secrets.token_urlsafe(12)  # one viewing for every file of the page
    media = request.app.router["api-recording-media"].url_for(id=str(row.id))
    players = [Player(name, person, str(media.with_query(file=name, viewing=viewing)), whole,
                      start)
               for name, person, (whole, start) in zip(names, people, known, strict=True)]
    in_step = all(p.start is not None for p in players)
    return render(request, "recording_play.html", recording=row, players=players,
                  contact_id=contact_id, zone=_zone(request), in_step=in_step)


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_media(request: web.Request) -> web.StreamResponse:
    """One file of a recording for a <video> element: decrypted on the fly, Range requests
    answered 206 (a bad range 416), the first request of each viewing audited."""
    user = request[USER]
    assert user is not None
    viewing = request.query.get("viewing", "")
    if not VIEWING.fullmatch(viewing):
        raise BadRequest(N_("The media address needs the viewing id its playback page gave "
                            "it (?viewing=…)."))
    viewings = request.app[VIEWINGS]
    fh: BinaryIO | None = None
    try:
        async with request.app[keys.DB].begin() as db:
            row, appointment, files = await _playable(db, request, user)
            name = request.query.get("file", "")
            path = _file(files, name)
            seen = (user.id, row.id, name, viewing)
            fh, index = await _indexed(request, path)
            footer = await _footer(request, path, fh)
            wanted = _wanted(request, served_size(footer, index.size))
            if not viewings.known(seen):
                audit.record(db, request, "recording.play", "recording", row.id,
                             client_id=appointment.client_id, file=name, viewing=viewing)
        viewings.audited(seen)  # only once the entry is committed
        return await _send(request, fh, index, name, wanted, footer)
    finally:
        if fh is not None:
            fh.close()


async def _indexed(request: web.Request, path: Path) -> tuple[BinaryIO, SealedIndex]:
    """The file opened, and its chunk index (kept for the next range request)."""
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        return fh, await request.app[INDEXES].of(path, fh)
    except SealedError as exc:
        fh.close()
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None
    except BaseException:
        fh.close()
        raise


async def _footer(request: web.Request, path: Path, fh: BinaryIO) -> Footer | None:
    """The file's seek index footer (`media.seek_index`), None if it has none."""
    ring = dict(key_ring(request.app[keys.SETTINGS]).keys)
    try:
        return await request.app[INDEXES].footer(path, fh, ring)
    except SealedError as exc:
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None


async def _complete(request: web.Request, path: Path, ring: dict[str, bytes]
                    ) -> tuple[bool, float | None]:
    """Whether the file ends with its final chunk (its last chunk decrypted to know), and
    when it began in its part of the recording (seconds; None if the file does not say)."""
    fh, index = await _indexed(request, path)
    try:
        whole = await asyncio.to_thread(is_complete, fh, index, ring)
        footer = await _footer(request, path, fh) if whole else None
    except SealedError as exc:
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None
    finally:
        fh.close()
    start = footer.start_ms if footer is not None else None
    return whole, None if start is None else start / 1000


def _wanted(request: web.Request, size: int) -> ByteRange | None:
    try:
        return byte_range(request.headers.get(hdrs.RANGE), size)
    except Unsatisfiable as exc:
        raise RangeNotSatisfiable(
            N_("This part of the recording cannot be sent ({problem}); it has {size} bytes."),
            problem=str(exc), size=size,
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes",
                     "Cache-Control": "no-store"}) from None


async def _send(request: web.Request, fh: BinaryIO, index: SealedIndex, name: str,
                wanted: ByteRange | None, footer: Footer | None) -> web.StreamResponse:
    size = served_size(footer, index.size)
    first, last = (wanted.first, wanted.last) if wanted else (0, size - 1)
    response = web.StreamResponse(status=206 if wanted else 200, headers={
        "Content-Type": media_type(name), "Accept-Ranges": "bytes", "Cache-Control": "no-store",
        "Content-Disposition": "inline"})
    if wanted:
        response.headers["Content-Range"] = wanted.content_range
    response.content_length = last - first + 1
    ring = dict(key_ring(request.app[keys.SETTINGS]).keys)
    # Served with its seek index before the clusters and its length (`media.seek_index`).
    def read(a: int, b: int) -> Iterator[bytes]:
        return read_range(fh, index, ring, a, b)

    pieces = served_range(read, footer, first, last) if last >= first else iter(())
    try:
        piece = await asyncio.to_thread(next, pieces, None)
    except SealedError as exc:
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None
    await response.prepare(request)
    while piece is not None:
        await response.write(piece)
        try:
            piece = await asyncio.to_thread(next, pieces, None)
        except SealedError as exc:
            # Headers are gone already: cut the transfer so no player takes it as whole.
            log.error("recording failed mid-playback", extra={"error": str(exc)})
            assert request.transport is not None
            request.transport.close()
            return response
    await response.write_eof()
    return response


def setup(app: web.Application) -> None:
    """The playback page, who has been audited for which viewing, and the chunk indexes of
    recently played files (this process)."""
    app[VIEWINGS] = Viewings()
    app[INDEXES] = Indexes()
    app.router.add_get("/recordings/{id}/play", playback_page, name="recording-play")
