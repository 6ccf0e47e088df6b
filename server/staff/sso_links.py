"""The store's side of single sign-on: sign-ins under way (state, nonce, PKCE verifier, used
once), and provider identities linked to staff accounts (by verified email the first time,
by `sub` after), listed and unlinked by an admin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from authlib.common.security import generate_token
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.errors import N_, NotFound
from server.staff.auth import revoke_sessions
from server.staff.sso import Reason, SsoError, verified_email
from server.staff.tokens import new_token, token_hash
from server.store import audit
from server.store.models import SsoAttempt, SsoIdentity, StaffSession, User

ATTEMPT_MINUTES = 10  # time to sign in at the provider and come back


@dataclass(frozen=True)
class Attempt:
    """A sign-in under way, as its callback needs it."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str
    expires_at: datetime


async def start_attempt(db: AsyncSession, next_path: str) -> tuple[str, SsoAttempt]:
    """A new sign-in: the browser's binding token (for its cookie) and the stored row."""
    await db.execute(delete(SsoAttempt).where(SsoAttempt.expires_at <= now()))
    binding = new_token()
    row = SsoAttempt(binding_hash=token_hash(binding), state=generate_token(43),
                     nonce=generate_token(43), code_verifier=generate_token(64),
                     next_path=next_path[:500], created_at=now(),
                     expires_at=now() + timedelta(minutes=ATTEMPT_MINUTES))
    db.add(row)
    return binding, row


async def take_attempt(db: AsyncSession, binding: str | None) -> Attempt:
    """The browser's sign-in under way, deleted in the same statement that reads it, so two
    callbacks racing with one cookie cannot both have it."""
    if not binding:
        raise SsoError(Reason.STATE, "no sign-in under way in this browser")
    row = (await db.execute(
        delete(SsoAttempt).where(SsoAttempt.binding_hash == token_hash(binding))
        .returning(SsoAttempt.state, SsoAttempt.nonce, SsoAttempt.code_verifier,
                   SsoAttempt.next_path, SsoAttempt.expires_at))).one_or_none()
    if row is None:
        raise SsoError(Reason.STATE, "no such sign-in (already used or expired)")
    attempt = Attempt(*row)
    if attempt.expires_at <= now():
        raise SsoError(Reason.STATE, "sign-in expired")
    return attempt


async def _link(db: AsyncSession, request: web.Request, issuer: str,
                claims: Mapping[str, Any]) -> SsoIdentity:
    """A first sign-in: an active account with the verified email, not linked elsewhere."""
    email = verified_email(claims)
    if email is None:
        raise SsoError(Reason.EMAIL_UNVERIFIED if claims.get("email") else Reason.CLAIMS,
                       "no verified email")
    user = await db.scalar(select(User).where(User.email == email))
    if user is None:
        raise SsoError(Reason.UNKNOWN, email)
    if not user.active:
        raise SsoError(Reason.DISABLED, f"user {user.id}")
    other = await db.scalar(select(SsoIdentity.id).where(SsoIdentity.user_id == user.id,
                                                         SsoIdentity.issuer == issuer))
    if other is not None:  # e.g. the email was given to a new account at the provider
        raise SsoError(Reason.LINKED_ELSEWHERE, f"user {user.id}")
    identity = SsoIdentity(user_id=user.id, issuer=issuer, subject=str(claims["sub"])[:255],
                           email=email, linked_at=now())
    db.add(identity)
    try:
        await db.flush()
    except IntegrityError:  # the same first sign-in twice at once: the other one linked it
        raise SsoError(Reason.STATE, "linked by a simultaneous sign-in") from None
    audit.record(db, request, "staff.sso_link", "user", user.id, actor=user, issuer=issuer)
    return identity


async def account_for(db: AsyncSession, request: web.Request, issuer: str,
                      claims: Mapping[str, Any]) -> tuple[User, SsoIdentity]:
    """The staff account a checked ID token speaks for, or why there is none."""
    identity = await db.scalar(select(SsoIdentity).where(
        SsoIdentity.issuer == issuer, SsoIdentity.subject == str(claims["sub"])))
    if identity is None:
        identity = await _link(db, request, issuer, claims)
    user = await db.get(User, identity.user_id)
    if user is None or not user.active:
        raise SsoError(Reason.DISABLED, f"user {identity.user_id}")
    identity.last_used_at = now()
    return user, identity


async def identities_in(db: AsyncSession, organisation_id: int) -> dict[int, list[SsoIdentity]]:
    """The linked identities of an organisation's accounts, by account (the admin page)."""
    rows = await db.scalars(select(SsoIdentity).join(User, User.id == SsoIdentity.user_id)
                            .where(User.organisation_id == organisation_id)
                            .order_by(SsoIdentity.linked_at))
    found: dict[int, list[SsoIdentity]] = {}
    for row in rows:
        found.setdefault(row.user_id, []).append(row)
    return found


async def unlink(db: AsyncSession, request: web.Request, actor: User, user_id: int) -> None:
    """An admin forgets a person's provider identities; sessions signed in with them end.
    The next single sign-on links again by verified email."""
    user = await db.get(User, user_id)
    if user is None or user.organisation_id != actor.organisation_id:
        raise NotFound(N_("No account with id {id}."), id=user_id)
    ids = list(await db.scalars(select(SsoIdentity.id).where(SsoIdentity.user_id == user.id)))
    if ids:
        sessions = select(StaffSession.id).where(StaffSession.sso_identity_id.in_(ids),
                                                 StaffSession.revoked_at.is_(None))
        for session_id in list(await db.scalars(sessions)):
            await revoke_sessions(db, user.id, only=session_id)
        await db.execute(update(StaffSession).where(StaffSession.sso_identity_id.in_(ids))
                         .values(sso_identity_id=None))
        await db.execute(delete(SsoIdentity).where(SsoIdentity.id.in_(ids)))
    audit.record(db, request, "staff.sso_unlink", "user", user.id, identities=len(ids))
