"""Who a call page speaks for: a person who joined by link, or the appointment's practitioner.

`/signal`, the pre-call check and failure reports all identify their caller this way, so the
same person is the same participant everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from server import keys
from server.clock import now
from server.errors import N_, Forbidden, NotFound
from server.joining.participants import PARTICIPANT_COOKIE, current_participant
from server.store.keys import USER
from server.store.models import (
    Appointment,
    AppointmentKind,
    Participant,
    ParticipantRole,
    ParticipantState,
    Role,
    User,
)


@dataclass(frozen=True, slots=True)
class Member:
    """What a connection knows about the person it serves."""

    participant_id: int
    appointment_id: int
    role: ParticipantRole
    name: str
    user_id: int | None


async def member_for_participant(request: web.Request) -> Member | None:
    """The person whose participant cookie came with the request, if it is still good."""
    secret = request.cookies.get(PARTICIPANT_COOKIE, "")[:100]
    if not secret:
        return None
    async with request.app[keys.DB]() as db:
        found = await current_participant(db, secret)
    if found is None:
        return None
    person = found[0]
    return Member(person.id, person.appointment_id, person.role, person.name, None)


async def member_for_staff(request: web.Request, appointment_id: int) -> Member:
    """The practitioner of the appointment, as a participant (created on first use, once:
    two tabs, or a page reconnecting while its first hello is being answered, share it)."""
    user = request[USER]
    assert user is not None
    person = await _practitioner(request, appointment_id, user, create=False)
    if person is None:
        # In this process, one at a time; across processes, the appointment's row lock
        # (PostgreSQL) orders them. Each looks again before creating.
        async with request.app[keys.FIRST_USE]:
            person = await _practitioner(request, appointment_id, user, create=True)
    assert person is not None
    return Member(person.id, appointment_id, ParticipantRole.PRACTITIONER, person.name,
                  user.id)


async def _practitioner(request: web.Request, appointment_id: int, user: User,
                        create: bool) -> Participant | None:
    async with request.app[keys.DB].begin() as db:
        appointment = await db.get(Appointment, appointment_id, with_for_update=create)
        if appointment is None or appointment.cancelled_at is not None \
                or appointment.kind is not AppointmentKind.REMOTE:
            raise NotFound(N_("There is no such remote appointment."))
        if appointment.practitioner_id != user.id or Role.PRACTITIONER not in user.roles:
            raise Forbidden(N_("Only the appointment's practitioner can hold its session."))
        person = await db.scalar(select(Participant).where(
            Participant.appointment_id == appointment_id, Participant.user_id == user.id)
            .order_by(Participant.id).limit(1))
        if person is None and create:
            current = now()
            person = Participant(
                appointment_id=appointment_id, user_id=user.id,
                role=ParticipantRole.PRACTITIONER, name=user.name, verified=True,
                state=ParticipantState.ADMITTED, state_since=current, epoch=0,
                audio=True, video=True, created_at=current,
                expires_at=appointment.starts_at.replace(year=appointment.starts_at.year + 1))
            db.add(person)
            await db.flush()
        return person
