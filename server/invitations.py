"""Invitation links: one person, one appointment, a time window; only the token's hash kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.models import Appointment, Invitation, InvitationRole, User
from server.settings import Settings
from server.tokens import new_token, token_hash


async def mint(db: AsyncSession, appointment: Appointment, role: InvitationRole,
               actor: User, settings: Settings) -> tuple[Invitation, str]:
    """A new invitation; returns the row and the token (shown once, never stored)."""
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


async def find_usable(db: AsyncSession, token: str) -> Invitation | None:
    """The invitation for a token if it is in its window and not revoked; else None.

    Callers show one page for every refusal, so a link never reveals whether an
    appointment exists.
    """
    row = await db.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))
    current = now()
    if row is None or row.revoked_at is not None:
        return None
    if not row.valid_from <= current <= row.valid_until:
        return None
    return row
