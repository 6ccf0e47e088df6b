"""Staff pages: signing in and out, the home redirect, account administration, one's own
API tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from server import keys
from server.clock import now
from server.errors import N_, BadRequest, Invalid, TooMany
from server.forms import form_data, zone
from server.i18n import gettext as _
from server.parsing import path_id, validate
from server.render import render
from server.staff import accounts, sso_links, throttle
from server.staff.access import Audience, allow, sensitive
from server.staff.account_security import security_context
from server.staff.auth import (
    device_cookie_name,
    factor_page,
    revoke_sessions,
    session_cookie_name,
    set_cookie,
    signed_in,
    start_session,
)
from server.staff.freshness import needs_factor
from server.staff.keys import IDENTITY
from server.staff.passwords import verify_password
from server.staff.schemas import TokenIn, UserIn
from server.staff.sso_pages import provider_logout_url, signed_in_with_sso
from server.store import audit
from server.store.keys import USER
from server.store.models import (
    Role,
    User,
)

ROUTES = web.RouteTableDef()


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"  # the home page sends each role to its own start page


@ROUTES.get("/login", name="login")
@allow(Audience.PUBLIC)
async def login_page(request: web.Request) -> web.Response:
    # Just signed out of a single sign-on session: offer to sign out at the provider too.
    logout = await provider_logout_url(request) if request.query.get("signed_out") == "sso" \
        else None
    return render(request, "login.html", next=_safe_next(request.query.get("next")), email="",
                  error=None, provider_logout=logout)


@ROUTES.post("/login", name="login-submit")
@allow(Audience.PUBLIC)
async def login(request: web.Request) -> web.StreamResponse:
    """Check the password (throttled), then start a fresh session."""
    form = await form_data(request)
    email = form.get("email", "").strip().lower()[:254]
    password = form.get("password", "")[:1024]
    target = _safe_next(form.get("next"))
    settings = request.app[keys.SETTINGS]
    if not settings.password_login:
        return render(request, "login.html", status=403, next=target, email="",
                      error=_("Password sign-in is switched off here: sign in with {label}.")
                      .format(label=settings.sso_label))
    async with request.app[keys.DB].begin() as db:
        device = await throttle.trusted_device(
            db, request.cookies.get(device_cookie_name(settings)), email)
        limits = throttle.throttle_keys(email, request.remote or "", settings, device)
        blocked = await throttle.blocked_until(db, limits)
        if blocked is not None:
            minutes = max(1, round((blocked - now()).total_seconds() / 60))
            raise TooMany(N_("Too many failed sign-in attempts. Try again in {minutes} "
                             "minute(s), or ask an administrator to help. A computer or "
                             "phone you have signed in with before is not held up by "
                             "attempts made elsewhere."), minutes=minutes,
                          headers={"Retry-After": str(minutes * 60)})
        user = await db.scalar(select(User).where(User.email == email))
        ok = await verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.active:
            await throttle.record_failure(db, limits, settings)
            audit.record(db, request, "login.failure", "user",
                         user.id if user else None, email=email)
            failed = True
        else:
            await throttle.record_success(db, limits)
            device_token = await throttle.trust_device(db, user, device, settings)
            token, row = await start_session(db, user, request)
            # The second factor comes next; its page sends the person on to `target`.
            target = factor_page(target) if needs_factor(row, user, settings) else target
            audit.record(db, request, "login.success", "user", user.id, actor=user)
            failed = False
    if failed:
        return render(request, "login.html", status=401, next=target, email=email,
                      error=_("That email address and password do not match an active "
                              "account."))
    response = web.HTTPSeeOther(target)
    set_cookie(response, settings, session_cookie_name(settings), token)
    set_cookie(response, settings, device_cookie_name(settings), device_token,
               max_age=settings.login_device_days * 24 * 3600)
    raise response


@ROUTES.post("/logout/everywhere", name="logout-everywhere")
@ROUTES.post("/logout", name="logout")
@allow(Audience.STAFF, Audience.SIGNING_IN)
async def logout(request: web.Request) -> web.StreamResponse:
    identity = request[IDENTITY]
    assert identity is not None  # the STAFF rule guarantees a caller
    if identity.session is None:
        raise BadRequest(N_("Signing out ends a browser session. To stop an API token, "
                            "revoke it on your account page."))
    # A password alone (second factor still to come) may end its own session, no other.
    everywhere = request.match_info.route.name == "logout-everywhere" and not needs_factor(
        identity.session, identity.user, request.app[keys.SETTINGS])
    async with request.app[keys.DB].begin() as db:
        only = None if everywhere else identity.session.id
        await revoke_sessions(db, identity.user.id, only=only)
        if everywhere:
            await throttle.forget_devices(db, identity.user.id)
        audit.record(db, request, "logout.everywhere" if everywhere else "logout", "user",
                     identity.user.id)
    settings = request.app[keys.SETTINGS]
    # After single sign-on, the sign-in page offers to sign out at the provider as well.
    response = web.HTTPSeeOther("/login?signed_out=sso" if signed_in_with_sso(request)
                                else "/login")
    # A __Host- cookie is only replaced by one with the same attributes (Secure included).
    response.del_cookie(session_cookie_name(settings), path="/", secure=settings.secure_cookies,
                        httponly=True, samesite="Lax")
    raise response


@ROUTES.get("/", name="home")
@allow(Audience.PUBLIC)
async def home(request: web.Request) -> web.StreamResponse:
    user = request.get(USER)
    if user is None:
        raise web.HTTPSeeOther("/login")
    if user.roles & {Role.PRACTITIONER, Role.SUPERVISOR}:
        raise web.HTTPSeeOther("/diary")  # today's and the week's appointments
    raise web.HTTPSeeOther("/admin/users" if Role.ADMIN in user.roles else "/privacy")


@ROUTES.get("/admin/users", name="users")
@allow(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        users = await accounts.list_users(db, signed_in(request))
        linked = await sso_links.identities_in(db, signed_in(request).organisation_id)
        audit.record(db, request, "users.view", "organisation", signed_in(request).organisation_id,
                     users=len(users))
    return render(request, "users.html", users=users, linked=linked)


async def _user_form(request: web.Request, values: dict[str, Any], error: Invalid | None,
                     status: int = 200) -> web.Response:
    async with request.app[keys.DB]() as db:
        teams = await accounts.list_teams(db, signed_in(request).organisation_id)
    return render(request, "user_form.html", status=status, values=values, error=error,
                  teams=teams, roles=list(Role))


@ROUTES.get("/admin/users/new", name="user-form")
@allow(Role.ADMIN)
async def user_form(request: web.Request) -> web.Response:
    return await _user_form(request, {"roles": ["practitioner"]}, None)


@ROUTES.post("/admin/users", name="user-create")
@allow(Role.ADMIN)
@sensitive("/admin/users/new")
async def user_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values: dict[str, Any] = {k: v for k, v in form.items()
                              if isinstance(v, str) and k not in ("csrf_token", "roles")}
    values["roles"] = [str(r) for r in form.getall("roles", [])]
    data = dict(values, team_id=values.get("team_id") or None)
    try:
        parsed = validate(UserIn, data)
        async with request.app[keys.DB].begin() as db:
            await accounts.create_user(db, request, signed_in(request),
                                       signed_in(request).organisation_id, parsed)
    except Invalid as error:
        values.pop("password", None)
        return await _user_form(request, values, error, status=422)
    raise web.HTTPSeeOther("/admin/users?created=1")


@ROUTES.post("/admin/users/{id}/reactivate", name="user-reactivate")
@ROUTES.post("/admin/users/{id}/deactivate", name="user-deactivate")
@allow(Role.ADMIN)
@sensitive("/admin/users")
async def user_set_active(request: web.Request) -> web.StreamResponse:
    active = request.match_info.route.name == "user-reactivate"
    async with request.app[keys.DB].begin() as db:
        await accounts.set_active(db, request, signed_in(request), path_id(request), active)
    raise web.HTTPSeeOther("/admin/users")


@ROUTES.get("/account", name="account")
@allow(Audience.STAFF)
async def account_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        tokens = await accounts.list_tokens(db, signed_in(request))
        security = await security_context(db, request[IDENTITY])
    return render(request, "account.html", tokens=tokens, new_token=None, error=None,
                  zone=zone(request), **security)


@ROUTES.post("/account/tokens", name="token-create")
@allow(Audience.STAFF)
@sensitive("/account")
async def token_create(request: web.Request) -> web.Response:
    values = await form_data(request)
    error, secret = None, None
    try:
        parsed = validate(TokenIn, values)
        async with request.app[keys.DB].begin() as db:
            _row, secret = await accounts.create_token(db, request, signed_in(request), parsed,
                                                       request.app[keys.SETTINGS])
    except Invalid as exc:
        error = exc
    async with request.app[keys.DB]() as db:
        tokens = await accounts.list_tokens(db, signed_in(request))
        security = await security_context(db, request[IDENTITY])
    return render(request, "account.html", status=422 if error else 201, tokens=tokens,
                  new_token=secret, error=error, zone=zone(request), **security)


@ROUTES.post("/account/tokens/{id}/revoke", name="token-revoke")
@allow(Audience.STAFF)
async def token_revoke(request: web.Request) -> web.StreamResponse:
    async with request.app[keys.DB].begin() as db:
        await accounts.revoke_token(db, request, signed_in(request), path_id(request))
    raise web.HTTPSeeOther("/account")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
