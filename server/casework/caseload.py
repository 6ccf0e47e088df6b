"""Clients, contacts and appointments as each member of staff may see and change them.

Pages and the API both call these functions, so a rule enforced here holds everywhere.
A client outside the caller's caseload is "not found": its existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.casework import decisions
from server.casework.keys import POLICIES
from server.casework.schemas import AppointmentIn, ContactIn
from server.clock import UTC, now
from server.errors import N_, Conflict, Forbidden, Invalid, NotFound
from server.outbox import appointments as messages
from server.store import audit
from server.store.models import (
    Appointment,
    AppointmentKind,
    Client,
    Contact,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    Role,
    User,
)

# "Now" typed into a form is already a minute old when it arrives.
PAST_GRACE = timedelta(minutes=15)


def visible_clients(actor: User) -> Select[Client]:
    """Clients the actor may see: their own caseload, and their team's if a supervisor."""
    conditions = []
    if Role.PRACTITIONER in actor.roles:
        conditions.append(Client.practitioner_id == actor.id)
    if Role.SUPERVISOR in actor.roles and actor.team_id is not None:
        team = select(User.id).where(User.team_id == actor.team_id)
        conditions.append(Client.practitioner_id.in_(team))
    where = or_(*conditions) if conditions else false()
    return select(Client).where(and_(Client.organisation_id == actor.organisation_id, where))


async def caseload(db: AsyncSession, actor: User) -> Sequence[tuple[Client, datetime | None]]:
    """The actor's visible clients with each one's last face-to-face contact."""
    last_f2f = (
        select(Contact.client_id, func.max(Contact.happened_at).label("last"))
        # As the policy rules count them: a missed meeting is not contact.
        .where(Contact.kind == ContactKind.FACE_TO_FACE,
               Contact.outcome == ContactOutcome.ATTENDED)
        .group_by(Contact.client_id)
        .subquery()
    )
    query = (
        visible_clients(actor)
        .add_columns(last_f2f.c.last)
        .outerjoin(last_f2f, last_f2f.c.client_id == Client.id)
        .order_by(Client.family_name, Client.given_name)
    )
    rows = (await db.execute(query)).all()
    return [(client, _aware(last)) for client, last in rows]


def _aware(value: datetime | str | None) -> datetime | None:
    # max() over a UTCDateTime column bypasses the type on SQLite; restore the UTC zone.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def get_client(db: AsyncSession, actor: User, client_id: int) -> Client:
    client: Client | None = await db.scalar(visible_clients(actor).where(Client.id == client_id))
    if client is None:
        raise NotFound(N_("No client with id {id} is in your caseload."), id=client_id)
    return client


async def view_client(
    db: AsyncSession, request: web.Request, actor: User, client_id: int
) -> tuple[Client, Sequence[Contact], Sequence[Appointment]]:
    """A client with their contact history and appointments; the view is audited."""
    client = await get_client(db, actor, client_id)
    contacts = await list_contacts(db, client)
    appointments = await list_appointments(db, client)
    audit.record(db, request, "client.view", "client", client.id, client_id=client.id)
    return client, contacts, appointments


async def list_contacts(db: AsyncSession, client: Client) -> Sequence[Contact]:
    query = (select(Contact).where(Contact.client_id == client.id)
             .order_by(Contact.happened_at.desc(), Contact.id.desc()))
    return (await db.scalars(query)).all()


async def list_appointments(db: AsyncSession, client: Client) -> Sequence[Appointment]:
    query = (select(Appointment).where(Appointment.client_id == client.id)
             .order_by(Appointment.starts_at.desc(), Appointment.id.desc()))
    return (await db.scalars(query)).all()


def _require_own(actor: User, client: Client) -> None:
    if client.practitioner_id != actor.id:
        raise Forbidden(N_("Only the client's own practitioner can record this."))


async def add_contact(
    db: AsyncSession, request: web.Request, actor: User, client_id: int, data: ContactIn
) -> Contact:
    """Record a contact (face to face, video, audio, phone) with the actor's own client."""
    client = await get_client(db, actor, client_id)
    _require_own(actor, client)
    if data.happened_at > now():
        raise Invalid(N_("A contact cannot be recorded in the future. Schedule an "
                         "appointment instead."),
                      errors=[{"field": "happened_at", "message": "in the future"}])
    contact = Contact(
        client_id=client.id, practitioner_id=actor.id, kind=data.kind,
        happened_at=data.happened_at, outcome=data.outcome, notes=data.notes,
        sensitive=data.sensitive, created_at=now(), created_by_id=actor.id,
    )
    db.add(contact)
    await db.flush()
    audit.record(db, request, "contact.create", "contact", contact.id, client_id=client.id,
                 kind=data.kind.value)
    return contact


async def schedule(
    db: AsyncSession, request: web.Request, actor: User, client_id: int, data: AppointmentIn
) -> Appointment:
    """Schedule an appointment with the actor's own client."""
    client = await get_client(db, actor, client_id)
    _require_own(actor, client)
    if data.starts_at < now() - PAST_GRACE:
        raise Invalid(N_("An appointment cannot start in the past. Record a contact "
                         "instead if it has already happened."),
                      errors=[{"field": "starts_at", "message": "in the past"}])
    appointment = Appointment(
        client_id=client.id, practitioner_id=actor.id, kind=data.kind,
        starts_at=data.starts_at, duration_minutes=data.duration_minutes, created_at=now(),
    )
    db.add(appointment)
    await db.flush()
    audit.record(db, request, "appointment.create", "appointment", appointment.id,
                 client_id=client.id, kind=data.kind.value)
    if appointment.kind is AppointmentKind.REMOTE:
        # Warn and explain now; the authoritative check is at admission.
        decision = await decisions.decide_remote(db, request.app[POLICIES], appointment,
                                                 client, now())
        decisions.record(db, decision, point="schedule", client_id=client.id,
                         appointment_id=appointment.id, now=now(), actor_user_id=actor.id)
        request[keys.DECISION] = decision
    await messages.booked(db, appointment, client)  # the client is told, then reminded
    return appointment


async def upcoming_decisions(db: AsyncSession, request: web.Request, client: Client,
                             appointments: Sequence[Appointment]) -> dict[int, Any]:
    """For each upcoming remote appointment, whether the policy allows it as things stand."""
    out: dict[int, Any] = {}
    for appointment in appointments:
        if (appointment.kind is AppointmentKind.REMOTE and appointment.cancelled_at is None
                and appointment.starts_at + timedelta(minutes=appointment.duration_minutes)
                > now()):
            decision = await decisions.decide_remote(db, request.app[POLICIES],
                                                     appointment, client, now())
            out[appointment.id] = decisions.explain(decision)
    return out


async def cancel(db: AsyncSession, request: web.Request, actor: User,
                 appointment_id: int) -> Appointment:
    """Cancel one of the actor's appointments (idempotent refusals are explicit)."""
    appointment = await db.get(Appointment, appointment_id)
    if appointment is None or appointment.practitioner_id != actor.id:
        raise NotFound(N_("No appointment with id {id} is yours to cancel."), id=appointment_id)
    if appointment.cancelled_at is not None:
        raise Conflict(N_("This appointment was already cancelled."))
    appointment.cancelled_at = now()
    audit.record(db, request, "appointment.cancel", "appointment", appointment.id,
                 client_id=appointment.client_id)
    client = await db.get(Client, appointment.client_id)
    assert client is not None
    await messages.cancelled(db, appointment, client)
    return appointment


async def team_caseloads(db: AsyncSession, actor: User) -> list[tuple[User, list[Client]]]:
    """A supervisor's team: each practitioner with their clients."""
    if actor.team_id is None:
        return []
    staff = (await db.scalars(select(User).where(User.team_id == actor.team_id)
                              .order_by(User.name))).all()
    clients = (await db.scalars(visible_clients(actor))).all()
    by_practitioner: dict[int, list[Client]] = {}
    for client in clients:
        by_practitioner.setdefault(client.practitioner_id, []).append(client)
    return [(person, by_practitioner.get(person.id, [])) for person in staff
            if Role.PRACTITIONER in person.roles]


async def own_remote_appointment(db: AsyncSession, actor: User,
                                 appointment_id: int) -> Appointment:
    """A remote, not cancelled appointment of the actor's own; 404 for anything else."""
    appointment = await db.get(Appointment, appointment_id)
    if (appointment is None or appointment.practitioner_id != actor.id
            or appointment.kind is not AppointmentKind.REMOTE
            or appointment.cancelled_at is not None):
        raise NotFound(N_("No remote appointment with id {id} is yours."), id=appointment_id)
    return appointment


async def open_records(db: AsyncSession, actor: User) -> Sequence[tuple[ContactRecord, Client]]:
    """The actor's records still waiting for their outcome and notes, oldest first."""
    rows = await db.execute(
        select(ContactRecord, Client).join(Client, Client.id == ContactRecord.client_id)
        .where(ContactRecord.practitioner_id == actor.id, ContactRecord.reviewed_at.is_(None))
        .order_by(ContactRecord.scheduled_start))
    return [(r, c) for r, c in rows.all()]
