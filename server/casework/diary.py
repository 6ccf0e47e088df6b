"""The diary: today's and the week's appointments as the caller may see them, in order.

Each entry says, for a remote appointment, whether the policy in force allows it now (the
same decision the link and admission use, from `decisions.decide_remote`), whether the
client has a live link, and what became of every message about it (booking, reminders,
link, change: sent, delivered, failed, bounced, by channel) as the outbox stored it. Who is
waiting now is asked of the live rooms by the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.casework import decisions
from server.casework.caseload import visible_clients
from server.casework.policy_versions import PolicyStore
from server.outbox.status import Delivery, delivery_by_appointment, reachable
from server.store.models import (
    Appointment,
    AppointmentKind,
    Client,
    Invitation,
    InvitationRole,
    User,
)

DAYS = 7
# A session may still be opened this long after its planned end (as on the client page).
OPEN_AFTER_END = timedelta(hours=2)
# Rooms are watched for "waiting now" from this long before an appointment starts.
WATCH_AHEAD = timedelta(hours=12)


@dataclass(frozen=True)
class Entry:
    appointment: Appointment
    client: Client
    practitioner: User
    decision: dict[str, Any] | None  # decisions.explain() for a remote, upcoming appointment
    link: bool  # the client has a live link to join
    delivery: Delivery | None  # the messages about it (booking, reminders, link, change)
    openable: bool  # the caller's own remote session, allowed now and not long over

    @property
    def reachable(self) -> bool:
        """Whether the client can be sent anything at all (a mobile number or email)."""
        return reachable(self.client)

    @property
    def remote(self) -> bool:
        return self.appointment.kind is AppointmentKind.REMOTE


def window(at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, datetime]:
    """The start of today, of tomorrow and the end of the week, in the organisation's zone."""
    local = at.astimezone(zone)
    today = datetime(local.year, local.month, local.day, tzinfo=zone)
    return today, _next_day(today, 1, zone), _next_day(today, DAYS, zone)


def _next_day(day: datetime, days: int, zone: ZoneInfo) -> datetime:
    # Calendar days, not 24-hour steps: a day that changes the clocks is 23 or 25 hours.
    later = (day + timedelta(days=days, hours=12)).astimezone(zone)
    return datetime(later.year, later.month, later.day, tzinfo=zone)


async def appointments(db: AsyncSession, actor: User, start: datetime,
                       end: datetime) -> Sequence[tuple[Appointment, Client, User]]:
    """Appointments of the actor's visible clients starting in [start, end), in order."""
    clients = visible_clients(actor).subquery()
    rows = await db.execute(
        select(Appointment, Client, User)
        .join(clients, clients.c.id == Appointment.client_id)
        .join(Client, Client.id == Appointment.client_id)
        .join(User, User.id == Appointment.practitioner_id)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end)
        .order_by(Appointment.starts_at, Appointment.id))
    return [(a, c, u) for a, c, u in rows.all()]


async def live_links(db: AsyncSession, appointment_ids: Sequence[int],
                     at: datetime) -> set[int]:
    """The appointments whose client has a link that still works (not withdrawn, not locked,
    not expired). Whether it reached them is the outbox's to say (`delivery_by_appointment`)."""
    if not appointment_ids:
        return set()
    found = await db.scalars(
        select(Invitation.appointment_id).where(
            Invitation.appointment_id.in_(appointment_ids),
            Invitation.role == InvitationRole.CLIENT, Invitation.revoked_at.is_(None),
            Invitation.locked_at.is_(None), Invitation.valid_until > at))
    return set(found.all())


async def diary(db: AsyncSession, policies: PolicyStore, actor: User, at: datetime,
                zone: ZoneInfo) -> list[Entry]:
    """The actor's diary from the start of today for a week."""
    start, _, end = window(at, zone)
    rows = await appointments(db, actor, start, end)
    ids = [a.id for a, _, _ in rows]
    linked, sent = await live_links(db, ids, at), await delivery_by_appointment(db, ids)
    out: list[Entry] = []
    for appointment, client, practitioner in rows:
        ends = appointment.starts_at + timedelta(minutes=appointment.duration_minutes)
        decision = None
        live = appointment.cancelled_at is None and ends + OPEN_AFTER_END > at
        if appointment.kind is AppointmentKind.REMOTE and live:
            decision = decisions.explain(
                await decisions.decide_remote(db, policies, appointment, client, at))
        openable = (decision is not None and decision["outcome"] == "allowed"
                    and appointment.practitioner_id == actor.id)
        out.append(Entry(appointment, client, practitioner, decision,
                         appointment.id in linked, sent.get(appointment.id), openable))
    return out


def watched(appointments: Sequence[Appointment], at: datetime) -> list[int]:
    """The remote, not cancelled appointments whose room someone could be in now (starting
    within `WATCH_AHEAD`, not long over): the rooms the diary watches."""
    return [a.id for a in appointments
            if a.kind is AppointmentKind.REMOTE and a.cancelled_at is None
            and a.starts_at <= at + WATCH_AHEAD
            and a.starts_at + timedelta(minutes=a.duration_minutes) + OPEN_AFTER_END > at]
