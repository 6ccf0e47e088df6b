"""Recordings after the call: who may play them back, the retention sweeper, the summary.

Only the session's practitioner and the supervisors of their team may list, play back or
download a recording, and every access is audited. Files are decrypted as a stream while
they are sent; nothing decrypted is written anywhere. The sweeper deletes recordings whose
retention has ended and records that it did (docs/recording.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from media.recorder import SUFFIX
from media.sealed import SealedError, open_sealed, parse_keys
from server import keys
from server.store import audit
from server.staff.access import allow
from server.clock import now
from server.errors import N_, AppError, NotFound
from server.store.models import (
    Appointment,
    ConsentEventRow,
    ContactRecord,
    Participant,
    Recording,
    RecordingState,
    Role,
    User,
)

log = logging.getLogger("rapport.recordings")
SWEEP_EVERY = 3600.0  # seconds between retention sweeps
SWEEP_FIRST = 60.0  # seconds after start before the first


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

def folder_of(app: web.Application) -> Path:
    return Path(app[keys.SETTINGS].recordings_dir)


async def _visible(db: AsyncSession, user: User, recording_id: int
                   ) -> tuple[Recording, Appointment]:
    """The recording if the user held its session or supervises whoever did; else 404."""
    row = await db.get(Recording, recording_id)
    appointment = await db.get(Appointment, row.appointment_id) if row is not None else None
    if row is not None and appointment is not None:
        if Role.PRACTITIONER in user.roles and appointment.practitioner_id == user.id:
            return row, appointment
        holder = await db.get(User, appointment.practitioner_id)
        if Role.SUPERVISOR in user.roles and holder is not None and user.team_id is not None \
                and holder.team_id == user.team_id \
                and holder.organisation_id == user.organisation_id:
            return row, appointment
    raise NotFound(N_("No recording with id {id} is yours to see."), id=recording_id)


def _files(folder: Path, row: Recording) -> list[Path]:
    if row.deleted_at is not None or not row.file_path:
        return []
    where = folder / row.file_path
    return sorted(where.glob(f"*{SUFFIX}")) if where.is_dir() else []


def _id(request: web.Request) -> int:
    raw = request.match_info.get("id", "")
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise NotFound(N_("No recording with id {id} is yours to see."), id=raw[:20])
    return int(raw)


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_meta(request: web.Request) -> web.Response:
    """A recording's details and its files (one per person and segment)."""
    user = request[keys.USER]
    assert user is not None
    async with request.app[keys.DB].begin() as db:
        row, appointment = await _visible(db, user, _id(request))
        audit.record(db, request, "recording.view", "recording", row.id,
                     client_id=appointment.client_id)
    out = RecordingOut.model_validate(row)
    out.files = [RecordingFileOut(
        name=p.name, bytes=p.stat().st_size,
        download=f"/api/v1/recordings/{row.id}/download?file={p.name}")
        for p in _files(folder_of(request.app), row)]
    return web.json_response(out.model_dump(mode="json"))


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_page(request: web.Request) -> web.Response:
    """The same as `recording_meta`, for a person: when it ran, how long it is kept, and a
    download link per file (every view and download audited)."""
    from server.render import render

    user = request[keys.USER]
    assert user is not None
    async with request.app[keys.DB].begin() as db:
        row, appointment = await _visible(db, user, _id(request))
        audit.record(db, request, "recording.view", "recording", row.id,
                     client_id=appointment.client_id)
        record_contact = await db.scalar(select(ContactRecord.contact_id).where(
            ContactRecord.appointment_id == appointment.id))
    files = [(p.name, p.stat().st_size) for p in _files(folder_of(request.app), row)]
    return render(request, "recording.html", recording=row, files=files,
                  contact_id=record_contact, zone=ZoneInfo(request.app[keys.SETTINGS].timezone))


def setup_pages(app: web.Application) -> None:
    app.router.add_get("/recordings/{id}", recording_page, name="recording")


@allow(Role.PRACTITIONER, Role.SUPERVISOR)
async def recording_download(request: web.Request) -> web.StreamResponse:
    """One file of a recording, decrypted as it is sent (Matroska: VP8 video, Opus audio)."""
    user = request[keys.USER]
    assert user is not None
    name = request.query.get("file", "")
    async with request.app[keys.DB].begin() as db:
        row, appointment = await _visible(db, user, _id(request))
        files = {p.name: p for p in _files(folder_of(request.app), row)}
        if name not in files:
            raise NotFound(N_("This recording has no file called {name}."), name=name[:80])
        audit.record(db, request, "recording.download", "recording", row.id,
                     client_id=appointment.client_id, file=name)
    settings = request.app[keys.SETTINGS]
    ring = parse_keys(settings.recording_keys, settings.recording_key_id)
    chunks = _decrypting(files[name], ring.keys)
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except SealedError as exc:
        raise RecordingUnreadable(N_("The recording cannot be opened: {problem}"),
                                  problem=str(exc)) from None
    response = web.StreamResponse(headers={
        "Content-Type": "video/x-matroska",
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


# --- retention --------------------------------------------------------------------------------

async def delete_expired_recordings(db: AsyncSession, at: datetime, *, dry_run: bool,
                                    folder: Path | None = None) -> list[int]:
    """Delete (files, then mark the row) every recording whose retention ended by `at`;
    each deletion audited. In the caller's transaction. `dry_run`: only say which."""
    rows = list(await db.scalars(select(Recording).where(
        Recording.retention_until <= at, Recording.deleted_at.is_(None),
        Recording.state.not_in((RecordingState.ASKING, RecordingState.RECORDING,
                                RecordingState.PAUSED)))))
    if dry_run:
        return [row.id for row in rows]
    for row in rows:
        if folder is not None and row.file_path:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(shutil.rmtree, folder / row.file_path)
        row.deleted_at, row.deleted_reason = at, "retention"
        appointment = await db.get(Appointment, row.appointment_id)
        audit.record(db, None, "recording.delete", "recording", row.id,
                     client_id=appointment.client_id if appointment else None,
                     reason="retention", retention_until=row.retention_until.isoformat())
    return [row.id for row in rows]


async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: a background task deleting expired recordings every `SWEEP_EVERY`."""

    async def sweep() -> None:
        await asyncio.sleep(SWEEP_FIRST)  # not in the middle of start-up (or a short test)
        while True:
            try:
                async with app[keys.DB].begin() as db:
                    done = await delete_expired_recordings(db, now(), dry_run=False,
                                                           folder=folder_of(app))
                if done:
                    log.info("recordings deleted at the end of retention",
                             extra={"recordings": done})
            except Exception:  # the next sweep tries again; never kill the task
                log.exception("recording retention sweep failed")
            await asyncio.sleep(SWEEP_EVERY)

    task = asyncio.create_task(sweep())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- for the contact record (issue #6) ------------------------------------------------------

async def recording_summary(db: AsyncSession, call_session_id: int) -> dict[str, Any]:
    """Whether and when recording ran in a session, and every consent event, for the record."""
    requests = list(await db.scalars(select(Recording).where(
        Recording.call_session_id == call_session_id).order_by(Recording.id)))
    people = {p.id: p for p in await db.scalars(select(Participant).where(
        Participant.id.in_(select(ConsentEventRow.participant_id).where(
            ConsentEventRow.call_session_id == call_session_id))))}
    events = list(await db.scalars(select(ConsentEventRow).where(
        ConsentEventRow.call_session_id == call_session_id).order_by(ConsentEventRow.id)))
    return {
        "recorded": any(r.segments for r in requests),
        "requests": [{
            "id": r.id, "state": r.state.value, "requested_at": r.requested_at.isoformat(),
            "stopped_at": r.stopped_at.isoformat() if r.stopped_at else None,
            "stopped_reason": r.stopped_reason, "segments": r.segments,
            "retention_until": r.retention_until.isoformat(),
            "deleted_at": r.deleted_at.isoformat() if r.deleted_at else None,
            "deleted_reason": r.deleted_reason,
        } for r in requests],
        "consent_events": [{
            "request": e.recording_id, "participant": e.participant_id,
            "name": people[e.participant_id].name if e.participant_id in people else None,
            "role": people[e.participant_id].role.value if e.participant_id in people else None,
            "kind": e.kind, "wording_version": e.wording_version,
            "wording_sha256": e.wording_sha256, "language": e.language, "at": e.at.isoformat(),
        } for e in events],
    }
