"""What a person is told when they sign in: failed attempts on their account and sign-ins
since their previous full sign-in, read from the audit log (nothing new is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import AuditEvent, StaffSession

FULL_SIGN_IN = ("factor.verify", "factor.enrol")
FAILURES = ("login.failure", "factor.failure")
SIGN_INS = ("login.success", "staff.sso_login")  # a password, or single sign-on


@dataclass(frozen=True)
class News:
    since: datetime | None
    failures: int
    sign_ins: int
    last_address: str | None

    @property
    def any(self) -> bool:
        return self.failures > 0 or self.sign_ins > 0


async def since_last_sign_in(db: AsyncSession, user_id: int, session: StaffSession) -> News:
    """Events about this person between their previous full sign-in and this session."""
    mine = (AuditEvent.target_type == "user", AuditEvent.target_id == str(user_id))
    since = await db.scalar(select(func.max(AuditEvent.at)).where(
        *mine, AuditEvent.action.in_(FULL_SIGN_IN), AuditEvent.at < session.created_at))
    window = (AuditEvent.at > since,) if since is not None else ()
    failures = await db.scalar(select(func.count()).select_from(AuditEvent).where(
        *mine, *window, AuditEvent.action.in_(FAILURES))) or 0
    sign_ins = (await db.scalars(select(AuditEvent.address).where(
        *mine, *window, AuditEvent.action.in_(SIGN_INS),
        AuditEvent.at < session.created_at).order_by(AuditEvent.id))).all()
    if since is None:  # the first sign-in ever: nothing before it to compare with
        return News(None, failures, 0, None)
    return News(since, failures, len(sign_ins), sign_ins[-1] if sign_ins else None)
