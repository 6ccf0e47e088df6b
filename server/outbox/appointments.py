"""The messages an appointment causes, queued in the transaction that books, moves or
cancels it: the booking, a reminder at each of the organisation's hours, the change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.outbox.queue import cancel_pending, enqueue
from server.store.models import Appointment, AppointmentKind, Client, Organisation

DEFAULT_HOURS = (24, 1)
# What a change makes obsolete: the earlier booking message and reminders not yet sent.
SUPERSEDED = ("booked", "reminder", "moved")


def reminder_hours(org: Organisation | None) -> tuple[int, ...]:
    """The organisation's reminder hours, largest first (24 and 1 unless it chose others)."""
    hours = org.reminder_hours if org is not None and org.reminder_hours is not None \
        else DEFAULT_HOURS
    return tuple(sorted({int(h) for h in hours}, reverse=True))


async def _reminders(db: AsyncSession, appointment: Appointment, client: Client,
                     hours: Sequence[int]) -> None:
    for h in hours:
        due = appointment.starts_at - timedelta(hours=h)
        if due > now():  # booked at short notice: that reminder would come after the booking
            await enqueue(db, organisation_id=client.organisation_id, kind="reminder",
                          due_at=due, client_id=client.id, appointment_id=appointment.id,
                          payload={"hours": h})


async def booked(db: AsyncSession, appointment: Appointment, client: Client) -> None:
    """A remote appointment was booked: tell the client now, remind them later."""
    if appointment.kind is not AppointmentKind.REMOTE:
        return
    org = await db.get(Organisation, client.organisation_id)
    await enqueue(db, organisation_id=client.organisation_id, kind="booked",
                  client_id=client.id, appointment_id=appointment.id)
    await _reminders(db, appointment, client, reminder_hours(org))


async def moved(db: AsyncSession, appointment: Appointment, client: Client,
                was: str) -> None:
    """It moved (`was`: the old start, ISO 8601): the change now, reminders for the new time."""
    if appointment.kind is not AppointmentKind.REMOTE:
        return
    await cancel_pending(db, appointment.id, SUPERSEDED, "the appointment moved")
    org = await db.get(Organisation, client.organisation_id)
    await enqueue(db, organisation_id=client.organisation_id, kind="moved",
                  client_id=client.id, appointment_id=appointment.id, payload={"was": was})
    await _reminders(db, appointment, client, reminder_hours(org))


async def cancelled(db: AsyncSession, appointment: Appointment, client: Client) -> None:
    """It was cancelled: nothing more about it, except that it is cancelled."""
    if appointment.kind is not AppointmentKind.REMOTE:
        return
    await cancel_pending(db, appointment.id, SUPERSEDED, "the appointment was cancelled")
    await enqueue(db, organisation_id=client.organisation_id, kind="cancelled",
                  client_id=client.id, appointment_id=appointment.id)
