"""Staff sign-in: server-side sessions, personal API tokens, CSRF, and the access middleware."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.clock import now
from server.errors import N_, Forbidden, Unauthenticated
from server.settings import Settings
from server.staff import access
from server.staff.access import Audience, Handler
from server.staff.freshness import is_recent, needs_factor
from server.staff.identity import Identity
from server.staff.keys import IDENTITY
from server.staff.tokens import new_token, same, token_hash
from server.store.keys import USER
from server.store.models import ApiToken, StaffSession, User

PRE_CSRF_COOKIE = "rapport_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# RFC 6750 section 3: every 401 for a Bearer request says how to authenticate.
CHALLENGE = 'Bearer realm="rapport"'

TOUCH_EVERY = timedelta(seconds=60)




def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix pins the cookie to this exact origin over HTTPS (no Domain, Path=/).
    return "__Host-rapport" if settings.secure_cookies else "rapport_session"


def device_cookie_name(settings: Settings) -> str:
    """The cookie that marks a browser that signed in correctly before (see throttle)."""
    return "__Host-rapport_device" if settings.secure_cookies else "rapport_device"


def pre_csrf_cookie_name(settings: Settings) -> str:
    """The signed-out CSRF cookie, pinned to this origin over HTTPS like the session's."""
    return f"__Host-{PRE_CSRF_COOKIE}" if settings.secure_cookies else PRE_CSRF_COOKIE


def set_cookie(response: web.StreamResponse, settings: Settings, name: str, value: str,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        secure=settings.secure_cookies, samesite="Lax")


async def start_session(db: AsyncSession, user: User,
                        request: web.Request) -> tuple[str, StaffSession]:
    """A fresh session for a successful sign-in; any session the browser had is revoked."""
    settings = request.app[keys.SETTINGS]
    old = request.get(IDENTITY)
    if old is not None and old.session is not None:
        await db.execute(update(StaffSession).where(StaffSession.id == old.session.id)
                         .values(revoked_at=now()))
    token = new_token()
    current = now()
    row = StaffSession(
        token_hash=token_hash(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
        created_at=current, last_seen_at=current,
        expires_at=current + timedelta(hours=settings.session_absolute_hours),
        address=(request.remote or "")[:64], device=request.headers.get("User-Agent", "")[:200],
    )
    db.add(row)
    return token, row


async def revoke_sessions(db: AsyncSession, user_id: int, only: int | None = None) -> None:
    """Revoke one session, or every session of the user (sign out everywhere)."""
    query = update(StaffSession).where(StaffSession.user_id == user_id,
                                       StaffSession.revoked_at.is_(None))
    if only is not None:
        query = query.where(StaffSession.id == only)
    await db.execute(query.values(revoked_at=now()))


async def _from_session(db: AsyncSession, token: str, settings: Settings) -> Identity | None:
    row = await db.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
    current = now()
    if row is None or row.revoked_at is not None or row.expires_at <= current:
        return None
    if current - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return None
    user = await db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if current - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = current
    return Identity(user, "session", row)


async def _from_token(db: AsyncSession, token: str) -> Identity | None:
    row = await db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    current = now()
    if row is None or row.revoked_at is not None or row.expires_at <= current:
        return None
    user = await db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or current - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = current
    return Identity(user, "token")


async def identify(request: web.Request) -> Identity | None:
    """Who is calling: a Bearer token wins over a session cookie; None when nobody valid."""
    settings = request.app[keys.SETTINGS]
    header = request.headers.get("Authorization", "")
    cookie = request.cookies.get(session_cookie_name(settings))
    if not header and not cookie:
        return None
    async with request.app[keys.DB].begin() as db:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(N_("Send the API token as 'Authorization: Bearer <token>'."),
                                      headers={"WWW-Authenticate": CHALLENGE})
            identity = await _from_token(db, token.strip())
            if identity is None:
                raise Unauthenticated(
                    N_("This API token is not valid: it may have expired or been revoked."),
                    headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'})
            return identity
        assert cookie is not None
        return await _from_session(db, cookie, settings)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _same_origin(request: web.Request) -> bool:
    """Defence in depth next to the CSRF token (which is always required as well).

    Rapport's pages send `Referrer-Policy: no-referrer`, and with it browsers send
    `Origin: null` on every form POST, even same-origin ones (Fetch standard, "serialize a
    request origin"). For that case the browser's `Sec-Fetch-Site` says where the request
    came from; without it (older browsers) the token alone decides.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":  # no origin to compare; the token still counts
        return True
    parts = urlsplit(origin)
    allowed = {urlsplit(request.app[keys.SETTINGS].base_url).netloc, request.host}
    return parts.netloc in allowed


async def csrf_ok(request: web.Request, identity: Identity | None) -> bool:
    """Unsafe requests riding on cookies must prove they come from our own pages."""
    if identity is not None and identity.via == "token":
        return True
    if not _same_origin(request):
        return False
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        sent = str((await request.post()).get("csrf_token", ""))
    if not sent:
        return False
    if identity is not None and identity.session is not None:
        return same(sent, identity.session.csrf_token)
    expected = request.cookies.get(pre_csrf_cookie_name(request.app[keys.SETTINGS]), "")
    return bool(expected) and same(sent, expected)


def csrf_token_for(request: web.Request) -> str:
    """The token forms on this page must send back."""
    identity: Identity | None = request.get(IDENTITY)
    if identity is not None and identity.session is not None:
        return identity.session.csrf_token
    name = pre_csrf_cookie_name(request.app[keys.SETTINGS])
    token = request.cookies.get(name) or request.get(keys.NEW_PRE_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request[keys.NEW_PRE_CSRF] = token
    return str(token)


def signed_in(request: web.Request) -> User:
    """The signed-in staff member, behind a rule that requires one."""
    user = request[USER]
    assert user is not None, "only called behind a rule that requires a signed-in caller"
    return user


def page_context(request: web.Request) -> dict[str, Any]:
    """What every page shows of sign-in: the person, and the token its forms send back."""
    identity = request.get(IDENTITY)
    user = request.get(USER)
    if identity is not None and identity.session is not None \
            and needs_factor(identity.session, identity.user, request.app[keys.SETTINGS]):
        user = None  # half signed in: no menu of pages it cannot reach yet
    return {"user": user, "csrf_token": csrf_token_for(request)}


class ReauthenticationRequired(Unauthenticated):
    slug = "reauthentication-required"
    title = N_("Confirm it is you")


def factor_page(target: str, again: bool = False) -> str:
    """The second-factor page, coming back to `target` afterwards."""
    return f"/login/factor?{'again=1&' if again else ''}next={quote(target, safe='/')}"


def _past_second_factor(request: web.Request, rule: access.Rule,
                        identity: Identity | None) -> Identity | None:
    """A session past its password only reaches the second-factor pages (and public ones,
    as nobody); anything else sends it to prove its factor first."""
    settings = request.app[keys.SETTINGS]
    if identity is None or identity.session is None \
            or not needs_factor(identity.session, identity.user, settings):
        return identity
    if Audience.SIGNING_IN in rule:
        return identity
    if access.permits(rule, None):
        return None
    if request.method in ("GET", "HEAD") and not is_api(request):
        raise web.HTTPSeeOther(factor_page(request.path_qs))
    raise Unauthenticated(N_("Finish signing in first: prove your second factor."),
                          headers={"WWW-Authenticate": CHALLENGE})


def _check_recent_factor(request: web.Request, identity: Identity | None) -> None:
    """Sensitive acts from a browser ask for the second factor again after a while."""
    back = access.sensitive_return(request.match_info.route)
    if back is None or identity is None or identity.via != "session":
        return  # an API token was minted by a session that had just proved its factor
    if is_recent(identity.session, request.app[keys.SETTINGS]):
        return
    if not is_api(request):
        raise web.HTTPSeeOther(factor_page(back or request.path_qs, again=True))
    raise ReauthenticationRequired(
        N_("This needs your second factor again: confirm it on the sign-in page, then retry."),
        headers={"WWW-Authenticate": CHALLENGE})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Identify the caller, apply the route's access rule, then check CSRF."""
    route = request.match_info.route
    rule = access.rule_for(route)
    if rule is None:  # unknown routes fall through to aiohttp's 404/405
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception
        raise Forbidden(N_("This address has no access rule, so it is closed to everyone."))
    try:
        identity = await identify(request)
    except Unauthenticated:
        if not access.permits(rule, None):
            raise
        identity = None  # a stale token must not break public pages such as /healthz
    identity = _past_second_factor(request, rule, identity)
    request[IDENTITY] = identity
    request[USER] = identity.user if identity else None
    if not access.permits(rule, identity.user.roles if identity else None):
        if identity is None:
            if request.method in ("GET", "HEAD") and not is_api(request):
                target = quote(request.path_qs, safe="/")
                raise web.HTTPSeeOther(f"/login?next={target}" if request.path != "/"
                                       else "/login")
            raise Unauthenticated(N_("Sign in first, or send a valid API token."),
                                  headers={"WWW-Authenticate": CHALLENGE})
        raise Forbidden(N_("Your role does not allow this."))
    if request.method in UNSAFE and not await csrf_ok(request, identity):
        raise Forbidden(N_("This form has expired or did not come from Rapport. "
                           "Go back, reload the page and try again."))
    _check_recent_factor(request, identity)
    response = await handler(request)
    pre = request.get(keys.NEW_PRE_CSRF)
    if pre:
        settings = request.app[keys.SETTINGS]
        set_cookie(response, settings, pre_csrf_cookie_name(settings), pre)
    return response
