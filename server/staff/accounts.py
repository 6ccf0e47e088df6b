"""Staff accounts (admin work) and personal API tokens (each person's own)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.errors import N_, Conflict, Forbidden, Invalid, NotFound
from server.settings import Settings
from server.staff.auth import revoke_sessions
from server.staff.keys import IDENTITY
from server.staff.passwords import hash_password, password_problems
from server.staff.schemas import TokenIn, UserIn
from server.staff.tokens import new_token, token_hash
from server.store import audit
from server.store.models import ApiToken, Team, User


async def list_users(db: AsyncSession, actor: User) -> Sequence[User]:
    query = (select(User).where(User.organisation_id == actor.organisation_id)
             .order_by(User.active.desc(), User.name))
    return (await db.scalars(query)).all()


async def list_teams(db: AsyncSession, organisation_id: int) -> Sequence[Team]:
    query = select(Team).where(Team.organisation_id == organisation_id).order_by(Team.name)
    return (await db.scalars(query)).all()


def check_password(data: UserIn) -> None:
    problems = password_problems(data.password, email=data.email, name=data.name)
    if problems:
        raise Invalid(N_("Choose another password: {why}"), why=" ".join(problems),
                      errors=[{"field": "password", "message": p} for p in problems])


async def create_user(db: AsyncSession, request: web.Request | None, actor: User | None,
                      organisation_id: int, data: UserIn) -> User:
    """Create a staff account (the password is hashed off the event loop)."""
    check_password(data)
    if data.team_id is not None:
        team = await db.get(Team, data.team_id)
        if team is None or team.organisation_id != organisation_id:
            raise Invalid(N_("There is no team with id {id}."), id=data.team_id,
                          errors=[{"field": "team_id", "message": "unknown team"}])
    email = data.email.lower()
    if await db.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(N_("An account with the email address {email} already exists."),
                       email=email)
    user = User(organisation_id=organisation_id, team_id=data.team_id, email=email,
                name=data.name, password_hash=await hash_password(data.password),
                active=True, created_at=now())
    user.roles = frozenset(data.roles)
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        raise Conflict(N_("An account with the email address {email} already exists."),
                       email=email) from None
    audit.record(db, request, "user.create", "user", user.id, actor=actor,
                 roles=sorted(r.value for r in data.roles))
    return user


async def _org_user(db: AsyncSession, actor: User, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None or user.organisation_id != actor.organisation_id:
        raise NotFound(N_("No account with id {id}."), id=user_id)
    return user


async def set_active(db: AsyncSession, request: web.Request, actor: User, user_id: int,
                     active: bool) -> User:
    """Deactivate (revoking every session and token at once) or reactivate an account."""
    user = await _org_user(db, actor, user_id)
    if not active and user.id == actor.id:
        raise Conflict(N_("You cannot deactivate your own account."))
    user.active = active
    user.deactivated_at = None if active else now()
    if not active:
        await revoke_sessions(db, user.id)
        await db.execute(update(ApiToken).where(ApiToken.user_id == user.id,
                                                ApiToken.revoked_at.is_(None))
                         .values(revoked_at=now()))
    audit.record(db, request, "user.activate" if active else "user.deactivate", "user", user.id)
    return user


async def list_tokens(db: AsyncSession, actor: User) -> Sequence[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.id.desc())
    return (await db.scalars(query)).all()


async def create_token(db: AsyncSession, request: web.Request, actor: User, data: TokenIn,
                       settings: Settings) -> tuple[ApiToken, str]:
    """A new personal API token; the caller sees the token once.

    Only a signed-in session may mint one (checked here so that every route, page or API,
    obeys it): a leaked token must not be able to renew itself beyond its expiry.
    """
    identity = request.get(IDENTITY)
    if identity is None or identity.via != "session":
        raise Forbidden(N_("API tokens can only be created while signed in, not with a token."))
    if data.days > settings.api_token_max_days:
        raise Invalid(N_("API tokens may last at most {days} days."),
                      days=settings.api_token_max_days,
                      errors=[{"field": "days", "message": "too long"}])
    token = new_token("rpt_")
    row = ApiToken(token_hash=token_hash(token), user_id=actor.id, name=data.name,
                   created_at=now(), expires_at=now() + timedelta(days=data.days))
    db.add(row)
    await db.flush()
    audit.record(db, request, "token.create", "api_token", row.id)
    return row, token


async def revoke_token(db: AsyncSession, request: web.Request, actor: User,
                       token_id: int) -> ApiToken:
    row = await db.get(ApiToken, token_id)
    if row is None or row.user_id != actor.id:
        raise NotFound(N_("No API token with id {id} is yours."), id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now()
        audit.record(db, request, "token.revoke", "api_token", row.id)
    return row
