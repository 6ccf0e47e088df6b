"""Second factors of a staff account: what a person has, enrolling an authenticator app,
proving a factor in a session, and an admin's reset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.errors import N_, Conflict, NotFound
from server.settings import Settings
from server.staff import recovery, totp
from server.staff.auth import revoke_sessions
from server.store import audit
from server.store.models import (
    Passkey,
    RecoveryCode,
    StaffSession,
    TotpFactor,
    User,
    WebauthnChallenge,
)


@dataclass(frozen=True)
class Factors:
    """What a person can prove a second factor with."""

    totp: bool
    passkeys: int
    recovery_left: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0


async def factors_of(db: AsyncSession, user_id: int) -> Factors:
    confirmed = await db.scalar(select(TotpFactor.id).where(
        TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)))
    passkeys = await db.scalar(select(func.count()).select_from(Passkey)
                               .where(Passkey.user_id == user_id)) or 0
    left = await db.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0
    return Factors(confirmed is not None, passkeys, left)


async def pending_totp(db: AsyncSession, user_id: int) -> TotpFactor:
    """The secret being enrolled (made on first use, kept until confirmed or reset)."""
    row = await db.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id))
    if row is None:
        row = TotpFactor(user_id=user_id, secret=totp.new_secret(), created_at=now())
        db.add(row)
        await db.flush()
    return row


async def mark_verified(db: AsyncSession, session_id: int, user: User) -> None:
    """This session has now proved a second factor (re-authentication counts from here)."""
    row = await db.get(StaffSession, session_id)
    assert row is not None
    row.factor_at = now()
    row.factor_failures = 0
    if not user.second_factor or user.factors_reset_at is not None:
        stored = await db.get(User, user.id)
        assert stored is not None
        stored.second_factor, stored.factors_reset_at = True, None


async def confirm_totp(db: AsyncSession, request: web.Request, user: User, session_id: int,
                       code: str) -> list[str] | None:
    """Confirm the app with its first code; the new recovery codes, or None if wrong."""
    row = await pending_totp(db, user.id)
    if row.confirmed_at is not None:
        raise Conflict(N_("An authenticator app is already set up for this account."))
    if not await totp.use_code(db, row, code):
        return None
    row.confirmed_at = now()
    codes = await recovery.replace_codes(db, user.id)
    await mark_verified(db, session_id, user)
    audit.record(db, request, "factor.enrol", "user", user.id, method="totp")
    return codes


@dataclass(frozen=True)
class Check:
    ok: bool
    method: str = ""
    recovery_left: int | None = None
    ended: bool = False  # too many wrong codes: the session was ended


async def check_code(db: AsyncSession, request: web.Request, user: User, session_id: int,
                     code: str, settings: Settings) -> Check:
    """An authenticator code or a recovery code, for this session."""
    row = await db.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id,
                                                   TotpFactor.confirmed_at.is_not(None)))
    if row is not None and await totp.use_code(db, row, code):
        await mark_verified(db, session_id, user)
        audit.record(db, request, "factor.verify", "user", user.id, method="totp")
        return Check(True, "totp")
    left = await recovery.use_code(db, user.id, code)
    if left is not None:
        await mark_verified(db, session_id, user)
        audit.record(db, request, "factor.verify", "user", user.id, method="recovery",
                     recovery_left=left)
        return Check(True, "recovery", recovery_left=left)
    return await _failed(db, request, user, session_id, settings)


async def _failed(db: AsyncSession, request: web.Request, user: User, session_id: int,
                  settings: Settings) -> Check:
    session = await db.get(StaffSession, session_id)
    assert session is not None
    session.factor_failures += 1
    ended = session.factor_failures >= settings.factor_max_failures
    audit.record(db, request, "factor.failure", "user", user.id, ended=ended)
    if ended:
        await revoke_sessions(db, user.id, only=session_id)
    return Check(False, ended=ended)


async def reset(db: AsyncSession, request: web.Request, actor: User, user_id: int) -> User:
    """An admin forgets every factor of a person; their sessions end; they enrol again."""
    user = await db.get(User, user_id)
    if user is None or user.organisation_id != actor.organisation_id:
        raise NotFound(N_("No account with id {id}."), id=user_id)
    for model in (TotpFactor, RecoveryCode, Passkey):
        await db.execute(delete(model).where(model.user_id == user.id))
    sessions = select(StaffSession.id).where(StaffSession.user_id == user.id)
    await db.execute(delete(WebauthnChallenge).where(WebauthnChallenge.session_id.in_(sessions)))
    await revoke_sessions(db, user.id)
    user.second_factor, user.factors_reset_at = False, now()
    audit.record(db, request, "factor.reset", "user", user.id)
    return user


def reset_notice(user: User) -> datetime | None:
    """When an admin reset this person's factors, until they enrol again."""
    return user.factors_reset_at
