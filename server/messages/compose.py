"""Composing a client's messages about an appointment at the moment they are sent.

Composed late on purpose: the client's current contact details and language, the time as it
stands now, and a join link only when the policy allows the session and the message goes
within `reminder_link_hours` of the start. A link minted here is kept in the message's payload
until it is settled, so a retry sends the same words; then it is dropped (`queue.SECRET_KEYS`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policies import Decision, Outcome
from server import i18n
from server.casework import decisions
from server.casework.policy_versions import PolicyStore
from server.clock import now
from server.joining import invitations
from server.messages import wording
from server.messages.ics import calendar
from server.outbox.channels import Attachment, Outgoing
from server.outbox.compose import Skip
from server.settings import Settings
from server.store import audit
from server.store.models import (
    Appointment,
    Client,
    Invitation,
    InvitationRole,
    OutboxMessage,
    User,
)

KINDS = ("booked", "reminder", "moved", "cancelled")
NO_DETAILS = "the client has no contact details (no mobile number or email address)"


def address(client: Client) -> tuple[str, str]:
    """The channel and address to use: their preference, else whichever they have."""
    if client.contact_preference == "email" and client.email:
        return "email", client.email
    if client.phone:
        return "sms", client.phone
    if client.email:
        return "email", client.email
    raise Skip(NO_DETAILS)


class ClientMessages:
    """The composer of `booked`, `reminder`, `moved` and `cancelled` messages."""

    def __init__(self, settings: Settings, catalogues: i18n.Catalogues,
                 policies: PolicyStore) -> None:
        self.settings, self.catalogues, self.policies = settings, catalogues, policies
        self.zone = ZoneInfo(settings.timezone)

    def _when(self, moment: datetime, lang: str, pattern: str = "EEEE d MMMM, HH:mm") -> str:
        return format_datetime(moment.astimezone(self.zone), pattern,
                               locale="en_GB" if lang == "en" else lang)

    async def __call__(self, db: AsyncSession, row: OutboxMessage) -> Outgoing:
        appointment = await db.get(Appointment, row.appointment_id or 0)
        client = await db.get(Client, row.client_id or 0)
        if appointment is None or client is None:
            raise Skip("the appointment no longer exists")
        if row.kind != "cancelled" and appointment.cancelled_at is not None:
            raise Skip("the appointment was cancelled")
        if row.kind == "reminder" and appointment.starts_at <= now():
            raise Skip("the appointment has already started")
        channel, to = address(client)
        lang = client.preferred_language
        lang = lang if lang in self.catalogues.languages else self.catalogues.languages[0]
        i18n.activate(self.catalogues.get(lang), lang)
        facts = await self._facts(db, row, appointment, client, lang)
        text = wording.body(row.kind, facts)
        attachments = (self._ics(row, appointment, text),) if channel == "email" else ()
        return Outgoing(channel=channel, to=to, text=text, key=row.idempotency_key,
                        subject=wording.subject(row.kind), attachments=attachments)

    async def _facts(self, db: AsyncSession, row: OutboxMessage, appointment: Appointment,
                     client: Client, lang: str) -> wording.Facts:
        s = self.settings
        opens = appointment.starts_at - timedelta(minutes=s.invitation_before_minutes)
        was = row.payload.get("was")
        base = wording.Facts(
            when=self._when(appointment.starts_at, lang), phone=s.help_phone,
            device_test=f"{s.base_url.rstrip('/')}/device-test",
            opens=self._when(opens, lang, "HH:mm"),
            was=self._when(datetime.fromisoformat(str(was)), lang) if was else "")
        if row.kind == "cancelled":
            return base
        decision = await decisions.decide_remote(db, self.policies, appointment, client, now())
        if decision.outcome is Outcome.BLOCKED:
            raise Skip("the policy does not allow this video session as things stand")
        if not decision.allowed:
            return replace(base, not_allowed=True)
        if "link" in row.payload:  # a retry: the same link as the first attempt
            return replace(base, link=str(row.payload["link"]))
        if appointment.starts_at - now() > timedelta(hours=s.reminder_link_hours):
            return base
        if await self._live_link(db, appointment.id):
            return replace(base, have_link=True)
        link = await self._mint(db, row, appointment, client, decision)
        return replace(base, link=link)

    async def _live_link(self, db: AsyncSession, appointment_id: int) -> bool:
        found = await db.scalar(select(Invitation.id).where(
            Invitation.appointment_id == appointment_id, Invitation.role == InvitationRole.CLIENT,
            Invitation.revoked_at.is_(None), Invitation.locked_at.is_(None),
            Invitation.valid_until > now()).limit(1))
        return found is not None

    async def _mint(self, db: AsyncSession, row: OutboxMessage, appointment: Appointment,
                    client: Client, decision: Decision) -> str:
        decisions.record(db, decision, point="mint", client_id=client.id,
                         appointment_id=appointment.id, now=now())
        practitioner = await db.get(User, appointment.practitioner_id)
        assert practitioner is not None
        invitation, token = await invitations.mint(db, appointment, InvitationRole.CLIENT,
                                                   practitioner, self.settings)
        audit.record(db, None, "invitation.create", "invitation", invitation.id,
                     client_id=client.id, role="client", sent_by=f"outbox:{row.id}")
        link = invitations.link(self.settings, token)
        row.payload = {**row.payload, "link": link}
        return link

    def _ics(self, row: OutboxMessage, appointment: Appointment, text: str) -> Attachment:
        host = self.settings.base_url.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        organiser = self.settings.email_from.rpartition("<")[2].rstrip(">").strip()
        data = calendar(
            uid=f"appointment-{appointment.id}@{host}", start=appointment.starts_at,
            end=appointment.starts_at + timedelta(minutes=appointment.duration_minutes),
            title=wording.calendar_title(), description=text, sequence=row.id,
            stamp=now(), organiser=organiser, cancelled=row.kind == "cancelled")
        method = "CANCEL" if row.kind == "cancelled" else "REQUEST"
        return Attachment("appointment.ics", f"text/calendar; method={method}", data)
