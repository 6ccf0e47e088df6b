"""A person's own security: where they are signed in (and ending any of those sessions),
changing their password (current password and second factor), their second factors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.clock import now
from server.errors import N_, Forbidden, Invalid, NotFound
from server.forms import form_data
from server.parsing import path_id
from server.staff import factors, recovery, totp
from server.staff.access import Audience, allow
from server.staff.auth import signed_in
from server.staff.freshness import is_recent
from server.staff.identity import Identity
from server.staff.keys import IDENTITY
from server.staff.passwords import hash_password, password_problems, verify_password
from server.store import audit
from server.store.models import StaffSession, TotpFactor, User

ROUTES = web.RouteTableDef()


async def active_sessions(db: AsyncSession, user_id: int) -> Sequence[StaffSession]:
    current = now()
    query = (select(StaffSession)
             .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None),
                    StaffSession.expires_at > current)
             .order_by(StaffSession.last_seen_at.desc()))
    return (await db.scalars(query)).all()


async def security_context(db: AsyncSession, identity: Identity | None) -> dict[str, Any]:
    """What the account page shows of sessions and factors."""
    assert identity is not None
    return {"sessions": await active_sessions(db, identity.user.id),
            "this_session": identity.session.id if identity.session else None,
            "factors": await factors.factors_of(db, identity.user.id)}


@ROUTES.post("/account/sessions/{id}/end", name="session-end")
@allow(Audience.STAFF)
async def session_end(request: web.Request) -> web.StreamResponse:
    """End one of one's own sessions (a lost laptop, a shared computer)."""
    user = signed_in(request)
    async with request.app[keys.DB].begin() as db:
        row = await db.get(StaffSession, path_id(request))
        if row is None or row.user_id != user.id:
            raise NotFound(N_("No session with id {id} is yours."), id=path_id(request))
        if row.revoked_at is None:
            row.revoked_at = now()
            audit.record(db, request, "session.end", "staff_session", row.id)
    raise web.HTTPSeeOther("/account?ended=1")


async def _second_factor_ok(db: AsyncSession, request: web.Request, user: User,
                            code: str) -> bool:
    """The code typed in the form (app or recovery code); a passkey-only person instead
    needs a recent factor check in this session."""
    row = await db.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id,
                                                   TotpFactor.confirmed_at.is_not(None)))
    if code.strip():
        if row is not None and await totp.use_code(db, row, code):
            return True
        return await recovery.use_code(db, user.id, code) is not None
    identity = request[IDENTITY]
    return row is None and identity is not None and \
        is_recent(identity.session, request.app[keys.SETTINGS])


@ROUTES.post("/account/password", name="password-change")
@allow(Audience.STAFF)
async def password_change(request: web.Request) -> web.StreamResponse:
    """A new password: the current one and the second factor first; other sessions end."""
    identity = request[IDENTITY]
    if identity is None or identity.session is None:
        raise Forbidden(N_("Passwords are changed from a signed-in browser, not with a token."))
    form = await form_data(request)
    user = signed_in(request)
    new = form.get("new_password", "")[:1024]
    problems = password_problems(new, email=user.email, name=user.name)
    if problems:
        raise Invalid(N_("Choose another password: {why}"), why=" ".join(problems),
                      errors=[{"field": "new_password", "message": p} for p in problems])
    async with request.app[keys.DB].begin() as db:
        stored = await db.get(User, user.id)
        assert stored is not None
        if not await verify_password(stored.password_hash, form.get("password", "")[:1024]) \
                or not await _second_factor_ok(db, request, user, form.get("code", "")[:64]):
            audit.record(db, request, "password.change_refused", "user", user.id)
            refused = True
        else:
            stored.password_hash = await hash_password(new)
            await db.execute(update(StaffSession).where(
                StaffSession.user_id == user.id, StaffSession.id != identity.session.id,
                StaffSession.revoked_at.is_(None)).values(revoked_at=now()))
            audit.record(db, request, "password.change", "user", user.id)
            refused = False
    if refused:
        raise Forbidden(N_("Your current password or second factor code was not right. "
                           "Your password is unchanged."))
    raise web.HTTPSeeOther("/account?password=1")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
