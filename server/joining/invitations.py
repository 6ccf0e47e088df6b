"""Invitation links: one person, one appointment, a time window; only the token's hash kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.settings import Settings
from server.staff.tokens import new_token, token_hash
from server.store.models import Appointment, Invitation, InvitationRole, User


async def mint(db: AsyncSession, appointment: Appointment, role: InvitationRole,
               actor: User, settings: Settings) -> tuple[Invitation, str]:
    """A new invitation; returns the row and the token (shown once, never stored).

    One link per person: earlier links of the same role for this appointment are revoked.
    """
    await db.execute(update(Invitation).where(
        Invitation.appointment_id == appointment.id, Invitation.role == role,
        Invitation.revoked_at.is_(None)).values(revoked_at=now()))
    token = new_token()
    row = Invitation(
        appointment_id=appointment.id, role=role, token_hash=token_hash(token),
        valid_from=appointment.starts_at - timedelta(minutes=settings.invitation_before_minutes),
        valid_until=appointment.starts_at + timedelta(minutes=settings.invitation_after_minutes),
        failed_attempts=0, created_at=now(), created_by_id=actor.id,
    )
    db.add(row)
    await db.flush()
    return row, token


def link(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/join/{token}"


async def had_interpreter(db: AsyncSession, appointment_id: int) -> bool:
    """Was an interpreter's link ever made for this appointment (spent, replaced or live)?
    Then the call page offers to make it again (#14)."""
    found = await db.scalar(select(Invitation.id).where(
        Invitation.appointment_id == appointment_id,
        Invitation.role == InvitationRole.INTERPRETER).limit(1))
    return found is not None
