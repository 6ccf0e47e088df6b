"""Recordings after the call: who may play them back, the retention sweeper, the summary.

Only the session's practitioner and the supervisors of their team may list, play back or
download a recording, and every access is audited. Files are decrypted as a stream while
they are sent; nothing decrypted is written anywhere. The sweeper deletes recordings whose
retention has ended and records that it did (docs/recording.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from media.sealed import SealedError, open_sealed
from media.sealed_ranges import SealedIndex, read_range
from media.seek_index import Footer, served_range, served_size
from media.writer import SUFFIXES, media_type
from server import keys
from server.clock import now
from server.errors import N_, AppError, NotFound
from server.recordings.availability import ensure_playable
from server.recordings.indexes import INDEXES
from server.recordings.keyring import key_ring
from server.recordings.lifecycle import folder_of
from server.staff.access import allow
from server.store import audit
from server.store.keys import USER
from server.store.models import (
    Appointment,
    ContactRecord,
    Recording,
    Role,
    User,
)

log = logging.getLogger("rapport.recordings")


class RecordingUnreadable(AppError):
    status = 500
    slug = "recording-unreadable"
    title = N_("The recording cannot be opened")


# --- output ---------------------------------------------------------------------------------

class RecordingFileOut(BaseModel):
    name: str
    bytes: int
    download: str


class RecordingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    appointment_id: int
    call_session_id: int
    state: str
    requested_at: datetime
    stopped_at: datetime | None
    stopped_reason: str
    segments: list[dict[str, Any]]
    retention_until: datetime
    deleted_at: datetime | None
    deleted_reason: str
    files: list[RecordingFileOut] = []


# --- who may see a recording ------------------------------------------------------------------



async def visible(db: AsyncSession, user: User, wanted: int
                  ) -> tuple[Recording, Appointment]:
    """The recording if the user held its session or supervises whoever did; else 404."""
    row = await db.get(Recording, wanted)
    appointment = await db.get(Appointment, row.appointment_id) if row is not None else None
    if row is not None and appointment is not None:
        if Role.PRACTITIONER in user.roles and appointment.practitioner_id == user.id:
            return row, appointment
        holder = await db.get(User, appointment.practitioner_id)
        if Role.SUPERVISOR in user.roles and holder is not None and user.team_id is not None \
                and holder.team_id == user.team_id \
                and holder.organisation_id == user.organisation_id:
            return row, appointment
    raise NotFound(N_("No recording with id {id} is yours to see."), id=wanted)


def files_of(folder: Path, row: Recording) -> list[Path]:
    """The recording's sealed files on disk, by name (none once it is deleted)."""
    if row.deleted_at is not None or not row.file_path:
        return []
    where = folder / row.file_path
    return sorted(p for p in where.iterdir() if p.name.endswith(SUFFIXES)) \
        if where.is_dir() else []


def recording_id(request: web.Request) -> int:
    """The `{id}` of the path; a malformed one is "not found" like an id that is not yours."""
    raw = request.match_info.get("id", "")
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise NotFound(N_("No recording with id {id} is yours to see."), id=raw[:20])
    return int(raw)


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_meta(request: web.Request) -> web.Response:
    """A recording's details and its files (one per person and segment)."""
    user = request[USER]
    assert user is not None
    async with request.app[keys.DB].begin() as db:
        row, appointment = await visible(db, user, recording_id(request))
        audit.record(db, request, "recording.view", "recording", row.id,
                     client_id=appointment.client_id)
    out = RecordingOut.model_validate(row)
    out.files = [RecordingFileOut(
        name=p.name, bytes=p.stat().st_size,
        download=f"/api/v1/recordings/{row.id}/download?file={p.name}")
        for p in files_of(folder_of(request.app), row)]
    return web.json_response(out.model_dump(mode="json"))


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_page(request: web.Request) -> web.Response:
    """The same as `recording_meta`, for a person: when it ran, how long it is kept, and a
    download link per file (every view and download audited)."""
    from server.render import render

    user = request[USER]
    assert user is not None
    async with request.app[keys.DB].begin() as db:
        row, appointment = await visible(db, user, recording_id(request))
        audit.record(db, request, "recording.view", "recording", row.id,
                     client_id=appointment.client_id)
        record_contact = await db.scalar(select(ContactRecord.contact_id).where(
            ContactRecord.appointment_id == appointment.id))
    files = [(p.name, p.stat().st_size) for p in files_of(folder_of(request.app), row)]
    return render(request, "recording.html", recording=row, files=files,
                  together=side_by_side([name for name, _size in files]),
                  contact_id=record_contact, zone=ZoneInfo(request.app[keys.SETTINGS].timezone))


def side_by_side(names: list[str]) -> list[tuple[int, list[str]]]:
    """Each segment with several files (one per person), its number and files, to play
    together (file names start `seg001-`)."""
    segments: dict[str, list[str]] = {}
    for name in names:
        segments.setdefault(name.split("-", 1)[0], []).append(name)
    return [(int(seg[3:]) if seg[3:].isdigit() else 0, group)
            for seg, group in segments.items() if len(group) > 1]


def setup(app: web.Application) -> None:
    app.router.add_get("/recordings/{id}", recording_page, name="recording")


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_download(request: web.Request) -> web.StreamResponse:
    """One file of a recording, decrypted as it is sent (WebM: VP8 video, Opus audio); only
    while it may be played (`availability`: not deleted, expired, withheld or running)."""
    user = request[USER]
    assert user is not None
    name = request.query.get("file", "")
    async with request.app[keys.DB].begin() as db:
        row, appointment = await visible(db, user, recording_id(request))
        ensure_playable(row, now(), ZoneInfo(request.app[keys.SETTINGS].timezone))
        files = {p.name: p for p in files_of(folder_of(request.app), row)}
        if name not in files:
            raise NotFound(N_("This recording has no file called {name}."), name=name[:80])
        audit.record(db, request, "recording.download", "recording", row.id,
                     client_id=appointment.client_id, file=name)
    settings = request.app[keys.SETTINGS]
    ring = key_ring(settings)
    path = files[name]
    fh = await asyncio.to_thread(path.open, "rb")  # not on the event loop
    try:  # its seek index footer: served with a length and Cues, for any player
        index = await request.app[INDEXES].of(path, fh)
        footer = await request.app[INDEXES].footer(path, fh, ring.keys)
    except SealedError as exc:
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None
    finally:
        fh.close()
    chunks = _decrypting(path, ring.keys) if footer is None else _served(
        path, ring.keys, index, footer)
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except SealedError as exc:
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None
    response = web.StreamResponse(headers={
        "Content-Type": media_type(name),
        "Content-Disposition": f'attachment; filename="{name.removesuffix(".sealed")}"',
        "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(first)
    while True:
        try:
            chunk = await asyncio.to_thread(next, chunks, None)
        except SealedError as exc:
            # Headers are gone already: cut the transfer so no client takes it as whole.
            log.error("recording failed mid-download", extra={"error": str(exc)})
            assert request.transport is not None
            request.transport.close()
            return response
        if chunk is None:
            break
        await response.write(chunk)
    await response.write_eof()
    return response


def _decrypting(path: Path, ring: Any) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from open_sealed(fh, ring)


def _served(path: Path, ring: Any, index: SealedIndex, footer: Footer) -> Iterator[bytes]:
    """The whole file as served (`media.seek_index`: the Cues before the clusters)."""
    with path.open("rb") as fh:
        yield from served_range(lambda a, b: read_range(fh, index, ring, a, b), footer, 0,
                                served_size(footer, index.size) - 1)


# --- retention --------------------------------------------------------------------------------





# --- for the contact record (issue #6) ------------------------------------------------------

