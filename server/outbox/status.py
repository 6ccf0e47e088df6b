"""What became of the messages about each appointment, for the client page and the diary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import Client, OutboxMessage, OutboxStatus

# Not worth showing: superseded messages, and webhook pushes (not the client's).
HIDDEN = frozenset({OutboxStatus.CANCELLED})
TROUBLE = frozenset({OutboxStatus.FAILED, OutboxStatus.BOUNCED})


@dataclass(frozen=True, slots=True)
class Sent:
    """One message to the client: what, how, where it is, since when, and why if it failed."""

    id: int
    kind: str  # booked | reminder | moved | cancelled | text
    channel: str | None  # sms | email (None until composed)
    status: OutboxStatus
    due_at: datetime
    status_at: datetime
    hours: int | None  # a reminder's hours before the start
    error: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """The messages about one appointment, oldest first, and what a practitioner must know."""

    messages: tuple[Sent, ...]

    @property
    def failed(self) -> bool:
        """A message about this appointment failed or bounced: the practitioner should phone."""
        return any(m.status in TROUBLE for m in self.messages)

    @property
    def no_contact_details(self) -> bool:
        return any(m.status is OutboxStatus.SKIPPED and "contact details" in m.error
                   for m in self.messages)

    @property
    def state(self) -> str:
        """One word for a diary column: failed, no_contact, delivered, sent, pending, none."""
        if self.failed:
            return "failed"
        if self.no_contact_details:
            return "no_contact"
        for word in (OutboxStatus.DELIVERED, OutboxStatus.SENT):
            if any(m.status is word for m in self.messages):
                return word.value
        return "pending" if self.messages else "none"


async def delivery_by_appointment(db: AsyncSession, appointment_ids: Sequence[int]
                                  ) -> dict[int, Delivery]:
    """Each appointment's messages to the client (appointments without any are left out)."""
    if not appointment_ids:
        return {}
    rows = (await db.scalars(
        select(OutboxMessage).where(OutboxMessage.appointment_id.in_(appointment_ids),
                                    OutboxMessage.kind != "webhook",
                                    OutboxMessage.status.not_in(HIDDEN))
        .order_by(OutboxMessage.due_at, OutboxMessage.id))).all()
    found: dict[int, list[Sent]] = {}
    for row in rows:
        hours = row.payload.get("hours")
        found.setdefault(int(row.appointment_id or 0), []).append(Sent(
            id=row.id, kind=row.kind, channel=row.channel, status=row.status,
            due_at=row.due_at, status_at=row.status_at,
            hours=hours if isinstance(hours, int) else None, error=row.last_error))
    return {a: Delivery(tuple(m)) for a, m in found.items()}


def reachable(client: Client) -> bool:
    """Whether the client can be sent messages at all (a phone number or an email address)."""
    return bool(client.phone or client.email)
