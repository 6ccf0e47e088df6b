"""People who join by link: opening it, proving who they are, and their participant cookie.

Opening a link shows a page; only the POST from that page (the client's date of birth, or
the interpreter's "continue") uses it, so link scanners in mail and SMS apps cannot use it
up. The token then leaves the address bar: the browser holds a participant cookie of its
own (stored as a SHA-256 only) and the link is used up.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.staff.tokens import new_token, token_hash
from server.store.models import (
    Appointment,
    Client,
    Invitation,
    InvitationRole,
    Participant,
    ParticipantRole,
    ParticipantState,
)

PARTICIPANT_COOKIE = "rapport_participant"


class Verdict(Enum):
    OK = "ok"
    WRONG = "wrong"  # a wrong date of birth; attempts remain
    LOCKED = "locked"  # this attempt used the last one; the link is now locked


async def usable_link(db: AsyncSession, token: str) -> tuple[Invitation, Appointment] | None:
    """The invitation behind a link that can still be used, and its appointment; else None."""
    row = await db.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))
    current = now()
    if row is None or row.revoked_at is not None or row.locked_at is not None \
            or row.claimed_at is not None:
        return None
    if not row.valid_from <= current <= row.valid_until:
        return None
    appointment = await db.get(Appointment, row.appointment_id)
    if appointment is None or appointment.cancelled_at is not None:
        return None
    return row, appointment


async def check_birth_date(db: AsyncSession, invitation: Invitation, appointment: Appointment,
                           given: date, max_attempts: int) -> Verdict:
    client = await db.get(Client, appointment.client_id)
    assert client is not None
    if given == client.date_of_birth:
        return Verdict.OK
    invitation.failed_attempts += 1
    if invitation.failed_attempts >= max_attempts:
        invitation.locked_at = now()
        return Verdict.LOCKED
    return Verdict.WRONG


async def claim(db: AsyncSession, invitation: Invitation, appointment: Appointment,
                name: str) -> tuple[Participant, str]:
    """Use the link up: a participant (new, or the one this link made before) and a new
    cookie secret for this browser, returned once."""
    current = now()
    invitation.claimed_at = current
    if invitation.first_used_at is None:
        invitation.first_used_at = current
    secret = new_token()
    person = await db.scalar(select(Participant).where(
        Participant.invitation_id == invitation.id))
    if person is None:
        person = Participant(
            appointment_id=appointment.id, invitation_id=invitation.id, user_id=None,
            role=ParticipantRole(invitation.role.value), name=name,
            state=ParticipantState.WAITING, state_since=current, epoch=0,
            audio=True, video=True, created_at=current)
        db.add(person)
    person.secret_hash = token_hash(secret)
    person.verified = True
    person.expires_at = invitation.valid_until
    await db.flush()
    return person, secret


def display_name(role: InvitationRole, client: Client, given: str) -> str:
    if role is InvitationRole.CLIENT:
        return f"{client.given_name} {client.family_name}"
    return given or "Interpreter"


async def find_by_secret(db: AsyncSession, secret: str) -> Participant | None:
    if not secret:
        return None
    person = await db.scalar(select(Participant).where(
        Participant.secret_hash == token_hash(secret)))
    if person is None or person.expires_at <= now():
        return None
    return person


async def current_participant(db: AsyncSession, secret: str
                              ) -> tuple[Participant, Invitation, Appointment] | None:
    """The person behind a participant cookie, while their link still stands."""
    person = await find_by_secret(db, secret)
    if person is None or person.invitation_id is None or not person.verified:
        return None
    invitation = await db.get(Invitation, person.invitation_id)
    appointment = await db.get(Appointment, person.appointment_id)
    if invitation is None or appointment is None or invitation.revoked_at is not None \
            or invitation.locked_at is not None or appointment.cancelled_at is not None:
        return None
    return person, invitation, appointment


async def returning(db: AsyncSession, token: str, secret: str) -> bool:
    """True when this browser already holds the participant cookie that this link made, and
    the link still stands: someone who closed the page and opened the link again on the same
    device goes straight back to the call page (no second date of birth)."""
    found = await current_participant(db, secret)
    return found is not None and found[1].token_hash == token_hash(token)


def cookie_seconds(invitation: Invitation, at: datetime) -> int:
    return max(60, int((invitation.valid_until - at) / timedelta(seconds=1)))
