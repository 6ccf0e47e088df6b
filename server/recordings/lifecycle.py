"""A recording's life after the call: where its files are, its summary on the contact
record, deletion when its retention ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.clock import now
from server.store import audit
from server.store.models import (
    Appointment,
    ConsentEventRow,
    Participant,
    Recording,
    RecordingState,
)

log = logging.getLogger("rapport.recordings")

SWEEP_EVERY = 3600.0  # seconds between retention sweeps


SWEEP_FIRST = 60.0  # seconds after start before the first


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


def folder_of(app: web.Application) -> Path:
    return Path(app[keys.SETTINGS].recordings_dir)
