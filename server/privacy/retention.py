"""Retention: each kind of data is deleted once it is older than its configured period.

Applied by a background sweeper (`sweeper_ctx`) and by `rapport retention [--dry-run]`.
Every deletion is itself written to the audit log; removing old audit entries deletes a
prefix of the chain under a permit and leaves a chained checkpoint, so `rapport audit verify`
still passes (docs/security.md).

Another kind registers with one line, e.g. the recordings:
`register("recordings", delete_expired_recordings)` where the function is
`async (db, now, *, dry_run) -> int | Sequence[object]` (a count or what it deleted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import keys
from server.clock import now as clock_now
from server.recordings.lifecycle import delete_expired_recordings
from server.settings import Settings
from server.store import audit
from server.store.auditchain import PRUNE_ACTION
from server.store.models import (
    FINAL,
    Appointment,
    AuditEvent,
    AuditPrunePermit,
    CallQuality,
    ChatMessage,
    ChecklistResponse,
    ConsentEventRow,
    Contact,
    ContactRecord,
    ContactVersion,
    Invitation,
    OutboxMessage,
    Participant,
    ParticipantEvent,
    PolicyDecision,
    PrecallCheck,
    Recording,
)

log = logging.getLogger("rapport.retention")


class SweepFunction(Protocol):
    """A kind's own sweep: deletes (or lists, on a dry run) what is past its retention."""

    def __call__(self, db: AsyncSession, now: datetime, *,
                 dry_run: bool) -> Awaitable[int | Sequence[object]]: ...


@dataclass(frozen=True)
class Swept:
    """What one kind's sweep deleted (or would delete)."""

    kind: str
    cutoff: datetime
    items: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)


# Kinds registered by other modules (recordings): name -> sweep function.
EXTRA_KINDS: dict[str, SweepFunction] = {}


def register(kind: str, sweep: SweepFunction) -> None:
    """Add a kind of data to the schedule (its function knows its own retention period)."""
    EXTRA_KINDS[kind] = sweep


# What a sweep found: a description of the row and the client it was about (if any).
Item = tuple[str, int | None]
Deleter = Callable[[AsyncSession, datetime, bool], Awaitable[list[Item]]]


async def _about(db: AsyncSession, label: str, model: Any, condition: Any) -> list[Item]:
    """Rows of a table linked to an appointment, each with the appointment's client."""
    query = select(model.id, Appointment.client_id).join(
        Appointment, Appointment.id == model.appointment_id).where(condition).order_by(model.id)
    return [(f"{label} {row_id}", client_id) for row_id, client_id in await db.execute(query)]


async def _invitations(db: AsyncSession, cutoff: datetime, dry_run: bool) -> list[Item]:
    items = await _about(db, "invitation", Invitation, Invitation.valid_until < cutoff)
    ids = select(Invitation.id).where(Invitation.valid_until < cutoff)
    if items and not dry_run:
        # The person's presence in the room outlives the link that let them in.
        await db.execute(update(Participant).where(Participant.invitation_id.in_(ids))
                         .values(invitation_id=None))
        await db.execute(delete(Invitation).where(Invitation.valid_until < cutoff))
    return items


async def _participants(db: AsyncSession, cutoff: datetime, dry_run: bool) -> list[Item]:
    # Whoever asked for, or answered about, a recording still held stays until it goes: the
    # consent behind a recording is kept as long as the recording.
    held = select(Recording.id).where(Recording.deleted_at.is_(None))
    expired = and_(
        Participant.expires_at < cutoff,
        Participant.id.not_in(select(Recording.requested_by_id).where(Recording.id.in_(held))),
        Participant.id.not_in(select(ConsentEventRow.participant_id)
                              .where(ConsentEventRow.recording_id.in_(held))))
    people = select(Participant.id).where(expired)
    # Recordings whose files are gone: their rows and consent answers go with the person.
    spent = select(Recording.id).where(Recording.requested_by_id.in_(people))
    gone_events = or_(ParticipantEvent.at < cutoff, ParticipantEvent.participant_id.in_(people),
                      ParticipantEvent.actor_id.in_(people))
    gone_answers = or_(ChecklistResponse.answered_at < cutoff,
                       ChecklistResponse.participant_id.in_(people))
    items = (await _about(db, "participant", Participant, expired)
             + await _about(db, "participant event", ParticipantEvent, gone_events)
             + await _about(db, "checklist answers", ChecklistResponse, gone_answers))
    if items and not dry_run:
        await db.execute(delete(ParticipantEvent).where(gone_events))
        await db.execute(delete(ChecklistResponse).where(gone_answers))
        await db.execute(update(PolicyDecision)
                         .where(PolicyDecision.subject_participant_id.in_(people))
                         .values(subject_participant_id=None))
        # Per-person figures and answers go with the person (the contact record keeps its own
        # summary of both).
        await db.execute(delete(CallQuality).where(CallQuality.participant_id.in_(people)))
        await db.execute(delete(PrecallCheck).where(PrecallCheck.participant_id.in_(people)))
        await db.execute(delete(ConsentEventRow).where(or_(
            ConsentEventRow.participant_id.in_(people), ConsentEventRow.recording_id.in_(spent))))
        await db.execute(delete(Recording).where(Recording.id.in_(spent)))
        await db.execute(delete(Participant).where(expired))
    return items


async def _contacts(db: AsyncSession, cutoff: datetime, dry_run: bool) -> list[Item]:
    rows = await db.execute(select(Contact.id, Contact.client_id)
                            .where(Contact.happened_at < cutoff).order_by(Contact.id))
    items: list[Item] = [(f"contact {i}", client_id) for i, client_id in rows]
    if items and not dry_run:
        # A contact's earlier versions and its session record go with it.
        gone = select(Contact.id).where(Contact.happened_at < cutoff)
        await db.execute(delete(ContactVersion).where(ContactVersion.contact_id.in_(gone)))
        # The session's text chat is part of the contact (#14): it goes with the record.
        chats = select(ContactRecord.appointment_id).where(ContactRecord.contact_id.in_(gone))
        await db.execute(delete(ChatMessage).where(ChatMessage.appointment_id.in_(chats)))
        await db.execute(delete(ContactRecord).where(ContactRecord.contact_id.in_(gone)))
        await db.execute(delete(Contact).where(Contact.happened_at < cutoff))
    return items


async def _audit(db: AsyncSession, cutoff: datetime, dry_run: bool) -> list[Item]:
    """Remove the oldest entries: always a prefix of the chain, never a gap in it."""
    first_kept = await db.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.at >= cutoff))
    upto = (first_kept - 1) if first_kept is not None else \
        await db.scalar(select(func.max(AuditEvent.seq)))
    oldest = await db.scalar(select(func.min(AuditEvent.seq)))
    if upto is None or oldest is None or upto < oldest:
        return []
    items: list[Item] = [(f"audit entries seq {oldest} to {upto}", None)]
    if dry_run:
        return items
    last = await db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == upto))
    db.add(AuditPrunePermit(upto_seq=upto))
    await db.flush()
    await db.execute(delete(AuditEvent).where(AuditEvent.seq <= upto)
                     .execution_options(synchronize_session=False))
    await db.execute(delete(AuditPrunePermit))
    # The checkpoint vouches for where the surviving chain starts.
    audit.record(db, None, PRUNE_ACTION, "audit_event", upto, upto_seq=upto, upto_hash=last,
                 deleted=upto - oldest + 1, cutoff=cutoff.isoformat())
    return items


async def _messages(db: AsyncSession, cutoff: datetime, dry_run: bool) -> list[Item]:
    """Settled outbox messages (sent, failed, skipped …): who was told what, and how."""
    old = and_(OutboxMessage.status.in_(FINAL), OutboxMessage.status_at < cutoff)
    found = await db.execute(select(OutboxMessage.id, OutboxMessage.client_id).where(old)
                             .order_by(OutboxMessage.id))
    items = [(f"message {row_id}", client_id) for row_id, client_id in found]
    if items and not dry_run:
        await db.execute(delete(OutboxMessage).where(old))
    return items


# Built-in kinds: name, the setting with its period in days, the function that deletes.
KINDS: list[tuple[str, str, Deleter]] = [
    ("invitations", "retention_invitation_days", _invitations),
    ("participants", "retention_participant_days", _participants),
    ("contacts", "retention_contact_days", _contacts),
    ("messages", "retention_message_days", _messages),
    ("audit", "retention_audit_days", _audit),
]


async def sweep(maker: async_sessionmaker[AsyncSession], settings: Settings, *,
                dry_run: bool = False, now: datetime | None = None) -> list[Swept]:
    """Apply (or, on a dry run, list) the whole schedule; one transaction per kind."""
    moment = now or clock_now()
    results = []
    for kind, setting, deleter in KINDS:
        days = int(getattr(settings, setting))
        if days == 0:
            continue
        cutoff = moment - timedelta(days=days)
        async with maker.begin() as db:
            items = await deleter(db, cutoff, dry_run)
            _log(db, kind, cutoff, items, dry_run)
        results.append(Swept(kind, cutoff, [label for label, _ in items]))
    # Recordings: each row carries its own end of retention (the policy's `[recording]`
    # period when it was asked for); deleting one removes its sealed files and audits it.
    async with maker.begin() as db:
        gone = await delete_expired_recordings(db, moment, dry_run=dry_run,
                                               folder=Path(settings.recordings_dir))
    results.append(Swept("recordings", moment, [f"recording {i}" for i in gone]))
    for kind, extra in EXTRA_KINDS.items():
        async with maker.begin() as db:
            done = await extra(db, moment, dry_run=dry_run)
            found: list[Item] = [(f"{kind} {d}", None) for d in done] \
                if not isinstance(done, int) else [(f"{kind} item", None)] * done
            _log(db, kind, moment, found, dry_run)
        results.append(Swept(kind, moment, [label for label, _ in found]))
    return results


def _log(db: AsyncSession, kind: str, cutoff: datetime, items: list[Item],
         dry_run: bool) -> None:
    """One audit entry per client (and one for rows about nobody in particular)."""
    if not items or dry_run or kind == "audit":  # the audit kind leaves its own checkpoint
        return
    by_client: dict[int | None, list[str]] = {}
    for label, client_id in items:
        by_client.setdefault(client_id, []).append(label)
    for client_id, labels in by_client.items():
        audit.record(db, None, "retention.delete", kind, None, client_id=client_id,
                     count=len(labels), cutoff=cutoff.isoformat(), deleted=labels)


async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the database's): sweep on a timer, cancelled cleanly at shutdown."""
    settings = app[keys.SETTINGS]
    task = None
    if settings.retention_sweep_minutes > 0:
        task = asyncio.create_task(_run(app[keys.DB], settings), name="retention-sweeper")
    app[keys.RETENTION_TASK] = task
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


# The first sweep comes soon after start-up, so a server restarted more often than the
# interval still applies the schedule.
FIRST_SWEEP_SECONDS = 300


async def _run(maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    interval = settings.retention_sweep_minutes * 60
    delay = min(FIRST_SWEEP_SECONDS, interval)
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            done = await sweep(maker, settings)
        except Exception:  # a failed sweep must not stop the next one
            log.exception("retention sweep failed")
            continue
        log.info("retention sweep", extra={"fields": {s.kind: s.count for s in done}})


__all__: list[Any] = ["KINDS", "Swept", "register", "sweep", "sweeper_ctx"]
