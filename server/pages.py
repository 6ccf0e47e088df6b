"""Server-rendered pages for staff (and the client's holding page), one handler per page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from server import accounts, audit, caseload, invitations, keys, throttle
from server.access import Audience, allow
from server.auth import revoke_sessions, session_cookie_name, set_cookie, start_session
from server.clock import now
from server.errors import N_, BadRequest, Invalid, TooMany
from server.i18n import gettext as _
from server.models import AppointmentKind, ContactKind, ContactOutcome, Role, User
from server.parsing import path_id, validate
from server.passwords import verify_password
from server.render import render
from server.schemas import AppointmentIn, ContactIn, TokenIn, UserIn

PRACTICE = (Role.PRACTITIONER, Role.SUPERVISOR)
PARTICIPANT_COOKIE = "rapport_participant"


def _user(request: web.Request) -> User:
    user = request[keys.USER]
    assert user is not None, "only called behind a rule that requires a signed-in caller"
    return user


def _db(request: web.Request) -> Any:
    return request.app[keys.DB]


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[keys.SETTINGS].timezone)


def _local_to_aware(request: web.Request, form: dict[str, Any], field: str) -> None:
    """Form times come without a zone (datetime-local): read them in the organisation's."""
    raw = form.get(field)
    if not raw:
        return
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise Invalid(N_("'{raw}' is not a date and time. Use the date picker, or write it "
                         "as 2026-11-22T14:30."), raw=str(raw)[:40],
                      errors=[{"field": field, "message": "not a date and time"}]) from None
    # An explicit offset (never sent by a browser's picker) is honoured, not overwritten.
    form[field] = value if value.tzinfo is not None else value.replace(tzinfo=_zone(request))


async def _form(request: web.Request) -> dict[str, Any]:
    form = await request.post()
    return {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}


# --- signing in and out -------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/caseload"


@allow(Audience.PUBLIC)
async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_safe_next(request.query.get("next")), email="",
                  error=None)


@allow(Audience.PUBLIC)
async def login(request: web.Request) -> web.StreamResponse:
    """Check the password (throttled), then start a fresh session."""
    form = await _form(request)
    email = form.get("email", "").strip().lower()[:254]
    password = form.get("password", "")[:1024]
    target = _safe_next(form.get("next"))
    settings = request.app[keys.SETTINGS]
    limits = throttle.throttle_keys(email, request.remote or "", settings)
    async with _db(request).begin() as db:
        blocked = await throttle.blocked_until(db, limits)
        if blocked is not None:
            minutes = max(1, round((blocked - now()).total_seconds() / 60))
            raise TooMany(N_("Too many failed sign-in attempts. Try again in {minutes} "
                             "minute(s), or ask an administrator to help."), minutes=minutes,
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
            token, _row = await start_session(db, user, request)
            audit.record(db, request, "login.success", "user", user.id, actor=user)
            failed = False
    if failed:
        return render(request, "login.html", status=401, next=target, email=email,
                      error=_("That email address and password do not match an active "
                              "account."))
    response = web.HTTPSeeOther(target)
    set_cookie(response, settings, session_cookie_name(settings), token)
    raise response


@allow(Audience.STAFF)
async def logout(request: web.Request) -> web.StreamResponse:
    identity = request[keys.IDENTITY]
    assert identity is not None  # the STAFF rule guarantees a caller
    if identity.session is None:
        raise BadRequest(N_("Signing out ends a browser session. To stop an API token, "
                            "revoke it on your account page."))
    everywhere = request.match_info.route.name == "logout-everywhere"
    async with _db(request).begin() as db:
        only = None if everywhere else identity.session.id
        await revoke_sessions(db, identity.user.id, only=only)
        audit.record(db, request, "logout.everywhere" if everywhere else "logout", "user",
                     identity.user.id)
    settings = request.app[keys.SETTINGS]
    response = web.HTTPSeeOther("/login")
    # A __Host- cookie is only replaced by one with the same attributes (Secure included).
    response.del_cookie(session_cookie_name(settings), path="/", secure=settings.secure_cookies,
                        httponly=True, samesite="Lax")
    raise response


@allow(Audience.PUBLIC)
async def home(request: web.Request) -> web.StreamResponse:
    user = request.get(keys.USER)
    if user is None:
        raise web.HTTPSeeOther("/login")
    raise web.HTTPSeeOther("/admin/users" if user.roles == {Role.ADMIN} else "/caseload")


# --- caseload -----------------------------------------------------------------------------

@allow(*PRACTICE)
async def caseload_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        rows = await caseload.caseload(db, _user(request))
        audit.record(db, request, "caseload.view", "caseload", _user(request).id,
                     clients=len(rows))
    return render(request, "caseload.html", rows=rows, zone=_zone(request), today=now())


@allow(*PRACTICE)
async def client_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        client, contacts, appointments = await caseload.view_client(
            db, request, _user(request), path_id(request))
    return render(request, "client.html", client=client, contacts=contacts,
                  appointments=appointments, zone=_zone(request), now=now(),
                  created=request.query.get("created"))


def _contact_form(request: web.Request, client: Any, values: dict[str, Any],
                  error: Invalid | None, status: int = 200) -> web.Response:
    return render(request, "contact_form.html", status=status, client=client, values=values,
                  error=error, kinds=list(ContactKind), outcomes=list(ContactOutcome))


@allow(Role.PRACTITIONER)
async def contact_form(request: web.Request) -> web.Response:
    async with _db(request)() as db:
        client = await caseload.get_client(db, _user(request), path_id(request))
    default = {"kind": "face_to_face", "outcome": "attended",
               "happened_at": now().astimezone(_zone(request)).strftime("%Y-%m-%dT%H:%M")}
    return _contact_form(request, client, default, None)


@allow(Role.PRACTITIONER)
async def contact_create(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    values = await _form(request)
    try:
        data = dict(values, sensitive=values.get("sensitive") == "on")
        _local_to_aware(request, data, "happened_at")
        parsed = validate(ContactIn, data)
        async with _db(request).begin() as db:
            await caseload.add_contact(db, request, _user(request), client_id, parsed)
    except Invalid as error:
        async with _db(request)() as db:
            client = await caseload.get_client(db, _user(request), client_id)
        return _contact_form(request, client, values, error, status=422)
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=contact")


def _appointment_form(request: web.Request, client: Any, values: dict[str, Any],
                      error: Invalid | None, status: int = 200) -> web.Response:
    return render(request, "appointment_form.html", status=status, client=client,
                  values=values, error=error, kinds=list(AppointmentKind))


@allow(Role.PRACTITIONER)
async def appointment_form(request: web.Request) -> web.Response:
    async with _db(request)() as db:
        client = await caseload.get_client(db, _user(request), path_id(request))
    return _appointment_form(request, client, {"kind": "remote", "duration_minutes": "30"}, None)


@allow(Role.PRACTITIONER)
async def appointment_create(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    values = await _form(request)
    try:
        data = dict(values)
        _local_to_aware(request, data, "starts_at")
        parsed = validate(AppointmentIn, data)
        async with _db(request).begin() as db:
            await caseload.schedule(db, request, _user(request), client_id, parsed)
    except Invalid as error:
        async with _db(request)() as db:
            client = await caseload.get_client(db, _user(request), client_id)
        return _appointment_form(request, client, values, error, status=422)
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=appointment")


@allow(Role.PRACTITIONER)
async def appointment_cancel(request: web.Request) -> web.StreamResponse:
    async with _db(request).begin() as db:
        appointment = await caseload.cancel(db, request, _user(request), path_id(request))
    raise web.HTTPSeeOther(f"/clients/{appointment.client_id}")


@allow(Role.SUPERVISOR)
async def team_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        teams = await caseload.team_caseloads(db, _user(request))
        audit.record(db, request, "team.view", "team", _user(request).team_id)
    return render(request, "team.html", teams=teams)


# --- administration -----------------------------------------------------------------------

@allow(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    async with _db(request)() as db:
        users = await accounts.list_users(db, _user(request))
    return render(request, "users.html", users=users)


async def _user_form(request: web.Request, values: dict[str, Any], error: Invalid | None,
                     status: int = 200) -> web.Response:
    async with _db(request)() as db:
        teams = await accounts.list_teams(db, _user(request).organisation_id)
    return render(request, "user_form.html", status=status, values=values, error=error,
                  teams=teams, roles=list(Role))


@allow(Role.ADMIN)
async def user_form(request: web.Request) -> web.Response:
    return await _user_form(request, {"roles": ["practitioner"]}, None)


@allow(Role.ADMIN)
async def user_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values: dict[str, Any] = {k: v for k, v in form.items()
                              if isinstance(v, str) and k not in ("csrf_token", "roles")}
    values["roles"] = [str(r) for r in form.getall("roles", [])]
    data = dict(values, team_id=values.get("team_id") or None)
    try:
        parsed = validate(UserIn, data)
        async with _db(request).begin() as db:
            await accounts.create_user(db, request, _user(request),
                                       _user(request).organisation_id, parsed)
    except Invalid as error:
        values.pop("password", None)
        return await _user_form(request, values, error, status=422)
    raise web.HTTPSeeOther("/admin/users?created=1")


@allow(Role.ADMIN)
async def user_set_active(request: web.Request) -> web.StreamResponse:
    active = request.match_info.route.name == "user-reactivate"
    async with _db(request).begin() as db:
        await accounts.set_active(db, request, _user(request), path_id(request), active)
    raise web.HTTPSeeOther("/admin/users")


# --- own account: API tokens --------------------------------------------------------------

@allow(Audience.STAFF)
async def account_page(request: web.Request) -> web.Response:
    async with _db(request)() as db:
        tokens = await accounts.list_tokens(db, _user(request))
    return render(request, "account.html", tokens=tokens, new_token=None, error=None,
                  zone=_zone(request))


@allow(Audience.STAFF)
async def token_create(request: web.Request) -> web.Response:
    values = await _form(request)
    error, secret = None, None
    try:
        parsed = validate(TokenIn, values)
        async with _db(request).begin() as db:
            _row, secret = await accounts.create_token(db, request, _user(request), parsed,
                                                       request.app[keys.SETTINGS])
    except Invalid as exc:
        error = exc
    async with _db(request)() as db:
        tokens = await accounts.list_tokens(db, _user(request))
    return render(request, "account.html", status=422 if error else 201, tokens=tokens,
                  new_token=secret, error=error, zone=_zone(request))


@allow(Audience.STAFF)
async def token_revoke(request: web.Request) -> web.StreamResponse:
    async with _db(request).begin() as db:
        await accounts.revoke_token(db, request, _user(request), path_id(request))
    raise web.HTTPSeeOther("/account")


# --- the client's side --------------------------------------------------------------------

@allow(Audience.PUBLIC)
async def join(request: web.Request) -> web.StreamResponse:
    """Exchange an invitation token for a participant cookie, so it leaves the address bar."""
    token = request.match_info["token"]
    async with _db(request).begin() as db:
        invitation = await invitations.find_usable(db, token[:100])
        if invitation is not None and invitation.first_used_at is None:
            invitation.first_used_at = now()
    if invitation is None:
        return render(request, "join_invalid.html", status=404)
    response = web.HTTPSeeOther("/join")
    set_cookie(response, request.app[keys.SETTINGS], PARTICIPANT_COOKIE, token,
               max_age=4 * 3600)
    raise response


@allow(Audience.PUBLIC)
async def join_holding(request: web.Request) -> web.Response:
    """Until live calls exist: a calm page confirming the link works, revealing nothing."""
    token = request.cookies.get(PARTICIPANT_COOKIE, "")
    async with _db(request)() as db:
        invitation = await invitations.find_usable(db, token[:100]) if token else None
    if invitation is None:
        return render(request, "join_invalid.html", status=404)
    return render(request, "join_holding.html")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", home, name="home")
    r.add_get("/login", login_page, name="login")
    r.add_post("/login", login, name="login-submit")
    r.add_post("/logout", logout, name="logout")
    r.add_post("/logout/everywhere", logout, name="logout-everywhere")
    r.add_get("/caseload", caseload_page, name="caseload")
    r.add_get("/clients/{id}", client_page, name="client")
    r.add_get("/clients/{id}/contacts/new", contact_form, name="contact-form")
    r.add_post("/clients/{id}/contacts", contact_create, name="contact-create")
    r.add_get("/clients/{id}/appointments/new", appointment_form, name="appointment-form")
    r.add_post("/clients/{id}/appointments", appointment_create, name="appointment-create")
    r.add_post("/appointments/{id}/cancel", appointment_cancel, name="appointment-cancel")
    r.add_get("/team", team_page, name="team")
    r.add_get("/admin/users", users_page, name="users")
    r.add_get("/admin/users/new", user_form, name="user-form")
    r.add_post("/admin/users", user_create, name="user-create")
    r.add_post("/admin/users/{id}/deactivate", user_set_active, name="user-deactivate")
    r.add_post("/admin/users/{id}/reactivate", user_set_active, name="user-reactivate")
    r.add_get("/account", account_page, name="account")
    r.add_post("/account/tokens", token_create, name="token-create")
    r.add_post("/account/tokens/{id}/revoke", token_revoke, name="token-revoke")
    r.add_get("/join/{token}", join, name="join")
    r.add_get("/join", join_holding, name="join-holding")
