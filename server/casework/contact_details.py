"""How a client is reached: their mobile number, email address and which one they prefer.

Checked when entered (a landline or a mistyped address is refused with a message saying
what to fix), so a reminder is never queued for an address that cannot work. Moving an
appointment lives here too: it is the change a client must hear about.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from server.casework import caseload
from server.casework.schemas import ContactDetailsIn
from server.clock import now
from server.errors import N_, Conflict, Forbidden, Invalid, NotFound
from server.i18n import gettext as _
from server.outbox import addresses
from server.outbox import appointments as messages
from server.store import audit
from server.store.models import Appointment, Client, User


def _checked(data: ContactDetailsIn) -> tuple[str | None, str | None, str | None]:
    errors: list[dict[str, str]] = []
    phone = email = None
    if data.phone:
        try:
            phone = addresses.phone(data.phone)
        except addresses.BadAddress as bad:
            errors.append({"field": "phone", "message": _(str(bad))})
    if data.email:
        try:
            email = addresses.email(data.email)
        except addresses.BadAddress as bad:
            errors.append({"field": "email", "message": _(str(bad))})
    preference = data.contact_preference or ("sms" if phone else "email" if email else None)
    if not errors and preference == "sms" and not phone:
        errors.append({"field": "contact_preference",
                       "message": _("Add a mobile number, or choose email.")})
    if not errors and preference == "email" and not email:
        errors.append({"field": "contact_preference",
                       "message": _("Add an email address, or choose text message.")})
    if errors:
        raise Invalid(N_("Please correct: {summary}"), errors=errors,
                      summary="; ".join(e["message"] for e in errors))
    return phone, email, preference


async def set_contact_details(db: AsyncSession, request: web.Request, actor: User,
                              client_id: int, data: ContactDetailsIn) -> Client:
    """The client's own practitioner records how to reach them; audited (not the values)."""
    client = await caseload.get_client(db, actor, client_id)
    if client.practitioner_id != actor.id:
        raise Forbidden(N_("Only the client's own practitioner can record this."))
    client.phone, client.email, client.contact_preference = _checked(data)
    audit.record(db, request, "client.contact_details", "client", client.id,
                 client_id=client.id, phone=client.phone is not None,
                 email=client.email is not None, preference=client.contact_preference)
    return client


async def move(db: AsyncSession, request: web.Request, actor: User, appointment_id: int,
               starts_at: datetime) -> Appointment:
    """A new time for one of the actor's appointments; the client is told of the change."""
    appointment = await db.get(Appointment, appointment_id)
    if appointment is None or appointment.practitioner_id != actor.id:
        raise NotFound(N_("No appointment with id {id} is yours to move."), id=appointment_id)
    if appointment.cancelled_at is not None:
        raise Conflict(N_("This appointment was cancelled; book a new one instead."))
    if starts_at < now() - caseload.PAST_GRACE:
        raise Invalid(N_("An appointment cannot start in the past."),
                      errors=[{"field": "starts_at", "message": _("in the past")}])
    was = appointment.starts_at
    appointment.starts_at = starts_at
    client = await db.get(Client, appointment.client_id)
    assert client is not None
    audit.record(db, request, "appointment.move", "appointment", appointment.id,
                 client_id=client.id, was=was.isoformat(), now=starts_at.isoformat())
    await messages.moved(db, appointment, client, was.isoformat())
    return appointment
