"""Contact records as the caller may see them, and their edits: outcome and notes, earlier
versions kept."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.errors import N_, Forbidden, Invalid, NotFound
from server.records.push import push
from server.store import audit
from server.store.models import (
    Client,
    Contact,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    ContactVersion,
    User,
)


async def visible_record(db: AsyncSession, actor: User, record_id: int) -> ContactRecord:
    """A record of a client the actor may see; "not found" otherwise."""
    from server.casework.caseload import visible_clients

    record = await db.get(ContactRecord, record_id)
    if record is None or await db.scalar(visible_clients(actor).where(
            Client.id == record.client_id)) is None:
        raise NotFound(N_("No contact record with id {id} is in your caseload."), id=record_id)
    return record


async def record_of_appointment(db: AsyncSession, actor: User,
                                appointment_id: int) -> ContactRecord:
    """The record of an appointment of a client the actor may see; "not found" otherwise."""
    record_id = await db.scalar(select(ContactRecord.id).where(
        ContactRecord.appointment_id == appointment_id))
    if record_id is None:
        raise NotFound(N_("No contact record for appointment {id} is in your caseload."),
                       id=appointment_id)
    try:
        return await visible_record(db, actor, record_id)
    except NotFound:
        raise NotFound(N_("No contact record for appointment {id} is in your caseload."),
                       id=appointment_id) from None


async def visible_contact(db: AsyncSession, actor: User, contact_id: int) -> Contact:
    from server.casework.caseload import visible_clients

    contact = await db.get(Contact, contact_id)
    if contact is None or await db.scalar(visible_clients(actor).where(
            Client.id == contact.client_id)) is None:
        raise NotFound(N_("No contact with id {id} is in your caseload."), id=contact_id)
    return contact


async def history(db: AsyncSession, contact_id: int) -> Sequence[ContactVersion]:
    return (await db.scalars(select(ContactVersion).where(
        ContactVersion.contact_id == contact_id).order_by(ContactVersion.version.desc()))).all()


async def edit(db: AsyncSession, request: web.Request | None, actor: User, contact: Contact, *,
               outcome: ContactOutcome, notes: str, sensitive: bool,
               kind: ContactKind | None = None) -> Contact:
    """The practitioner's outcome and notes; the values replaced are kept as a version."""
    if contact.practitioner_id != actor.id:
        raise Forbidden(N_("Only the client's own practitioner can change this contact."))
    record = await db.scalar(select(ContactRecord).where(ContactRecord.contact_id == contact.id))
    if record is not None and kind is ContactKind.FACE_TO_FACE:
        raise Invalid(N_("A remote session cannot be recorded as face to face."),
                      errors=[{"field": "kind", "message": "remote sessions only"}])
    number = await db.scalar(select(func.count()).select_from(ContactVersion).where(
        ContactVersion.contact_id == contact.id)) or 0
    db.add(ContactVersion(contact_id=contact.id, version=number + 1, kind=contact.kind,
                          outcome=contact.outcome, happened_at=contact.happened_at,
                          notes=contact.notes, sensitive=contact.sensitive,
                          replaced_at=now(), replaced_by_id=actor.id))
    contact.outcome, contact.notes, contact.sensitive = outcome, notes, sensitive
    if kind is not None:
        contact.kind = kind
    if record is not None and record.reviewed_at is None:
        record.reviewed_at, record.reviewed_by_id = now(), actor.id
    audit.record(db, request, "contact.update", "contact", contact.id,
                 client_id=contact.client_id, outcome=outcome.value, sensitive=sensitive,
                 version=number + 1)
    await push(db, contact, record, "contact.updated")  # to the case system
    return contact


async def record_for(db: AsyncSession, contact_id: int) -> ContactRecord | None:
    found: ContactRecord | None = await db.scalar(select(ContactRecord).where(
        ContactRecord.contact_id == contact_id))
    return found


async def staff_names(db: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """Names of staff by id (for "changed by" in the history)."""
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(set(ids))))
    return {uid: name for uid, name in rows.all()}
