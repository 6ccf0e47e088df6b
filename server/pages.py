"""Server-rendered pages for staff (and the client's holding page), one handler per page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from server import keys

from server.casework import approvals, caseload, policy_versions

from server.joining import participants

from server.records import building as records

from server.staff import accounts, throttle

from server.store import audit
from server.staff.access import Audience, allow
from server.staff.auth import revoke_sessions, session_cookie_name, set_cookie, start_session
from server.clock import now
from server.errors import N_, AppError, BadRequest, Conflict, Invalid, TooMany
from server.i18n import gettext as _
from server.store.models import (
    AppointmentKind,
    Client,
    ContactKind,
    ContactOutcome,
    InvitationRole,
    Role,
    User,
)
from server.parsing import path_id, validate
from server.staff.passwords import verify_password
from server.render import render
from server.schemas import AppointmentIn, ContactIn, TokenIn, UserIn

PRACTICE = (Role.PRACTITIONER, Role.SUPERVISOR)


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
    return "/"  # the home page sends each role to its own start page


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
    if user.roles & {Role.PRACTITIONER, Role.SUPERVISOR}:
        raise web.HTTPSeeOther("/caseload")
    raise web.HTTPSeeOther("/admin/users" if Role.ADMIN in user.roles else "/privacy")


# --- caseload -----------------------------------------------------------------------------

@allow(*PRACTICE)
async def caseload_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        rows = await caseload.caseload(db, _user(request))
        audit.record(db, request, "caseload.view", "caseload", _user(request).id,
                     clients=len(rows))
        # Contact records still waiting for the practitioner's outcome and notes.
        open_records = await records.open_records(db, _user(request))
    return render(request, "caseload.html", rows=rows, zone=_zone(request), today=now(),
                  open_records=open_records)


@allow(*PRACTICE)
async def client_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        client, contacts, appointments = await caseload.view_client(
            db, request, _user(request), path_id(request))
        policy = await caseload.upcoming_decisions(db, request, client, appointments)
        pending = await approvals.pending_for(db, client.id)
    return render(request, "client.html", client=client, contacts=contacts, policy=policy,
                  pending_approval=pending,
                  appointments=appointments, zone=_zone(request), now=now(),
                  timedelta=timedelta,
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


@allow(Role.PRACTITIONER)
async def approval_request(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    client_id = path_id(request)
    async with _db(request).begin() as db:
        await approvals.request(db, request, _user(request), client_id,
                                form.get("note", "").strip())
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=approval")


@allow(Role.SUPERVISOR)
async def approvals_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        rows = await approvals.for_supervisor(db, _user(request))
        audit.record(db, request, "approvals.view", "team", _user(request).team_id)
    return render(request, "approvals.html", rows=rows, zone=_zone(request), values={},
                  error=None, failed_id=None, decided=request.query.get("decided"))


@allow(Role.SUPERVISOR)
async def approval_decide(request: web.Request) -> web.Response:
    form = await _form(request)
    approval_id = path_id(request)
    try:
        async with _db(request).begin() as db:
            policy = await request.app[keys.POLICIES].for_organisation(
                db, _user(request).organisation_id)
            await approvals.decide(
                db, request, _user(request), approval_id,
                approve=form.get("decision") == "approve",
                rationale=form.get("rationale", ""), expires_on=form.get("expires_on", ""),
                zone=_zone(request), policy=policy)
    except Invalid as error:
        async with _db(request)() as db:
            rows = await approvals.for_supervisor(db, _user(request))
        return render(request, "approvals.html", status=422, rows=rows, zone=_zone(request),
                      values=form, error=error, failed_id=approval_id, decided=None)
    raise web.HTTPSeeOther("/approvals?decided=1")


# --- administration -----------------------------------------------------------------------

@allow(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    async with _db(request).begin() as db:
        users = await accounts.list_users(db, _user(request))
        audit.record(db, request, "users.view", "organisation", _user(request).organisation_id,
                     users=len(users))
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


# --- the video session ---------------------------------------------------------------------

@allow(Role.PRACTITIONER)
async def call_page(request: web.Request) -> web.Response:
    """The practitioner's side of a remote appointment: waiting list, checklist, call."""
    user = _user(request)
    async with _db(request).begin() as db:
        appointment = await caseload.own_remote_appointment(db, user, path_id(request))
        client = await caseload.get_client(db, user, appointment.client_id)
        audit.record(db, request, "call.open", "appointment", appointment.id,
                     client_id=client.id)
    return render(request, "call.html", role="practitioner", appointment={
        "id": appointment.id, "client_id": client.id, "client_name": client.full_name,
        "starts_at_local": appointment.starts_at.astimezone(_zone(request))
        .strftime("%a %d %b %Y, %H:%M"),
        "interpreter_needed": client.interpreter_needed})


# --- the client's and interpreter's side --------------------------------------------------

def _join_invalid(request: web.Request, locked: bool = False) -> web.Response:
    return render(request, "join_invalid.html", status=404, locked=locked)


def _birth_date(form: dict[str, Any]) -> date | None:
    try:
        return date(int(form.get("year", "")), int(form.get("month", "")),
                    int(form.get("day", "")))
    except (TypeError, ValueError):
        return None


@allow(Audience.PUBLIC)
async def join(request: web.Request) -> web.StreamResponse:
    """An invitation link: a page that asks the client's date of birth (or the interpreter
    to continue). Nothing is used up by opening it."""
    token = request.match_info["token"][:100]
    async with _db(request)() as db:
        found = await participants.usable_link(db, token)
    if found is None:
        return _join_invalid(request)
    return render(request, "join_start.html", role=found[0].role.value, values={},
                  error=None, token=token)


@allow(Audience.PUBLIC)
async def join_submit(request: web.Request) -> web.StreamResponse:
    """Check the date of birth, use the link up, and swap it for a participant cookie."""
    settings = request.app[keys.SETTINGS]
    token = request.match_info["token"][:100]
    form = await _form(request)
    failed: tuple[int, str, bool, int] | None = None
    async with _db(request).begin() as db:
        found = await participants.usable_link(db, token)
        if found is None:
            return _join_invalid(request)
        invitation, appointment = found
        verdict = participants.Verdict.OK
        client = await db.get(Client, appointment.client_id)
        assert client is not None
        if invitation.role is InvitationRole.CLIENT:
            given = _birth_date(form)
            if given is None:
                return render(request, "join_start.html", status=422, role="client",
                              values=form, token=token, error=Invalid(
                                  N_("Enter your date of birth as numbers, for example "
                                     "27 3 1990.")))
            verdict = await participants.check_birth_date(
                db, invitation, appointment, given, settings.invitation_max_attempts)
            if verdict is not participants.Verdict.OK:
                locked = verdict is participants.Verdict.LOCKED
                audit.record(db, request, "invitation.wrong_birth_date", "invitation",
                             invitation.id, client_id=client.id, locked=locked)
                left = settings.invitation_max_attempts - invitation.failed_attempts
                failed = (appointment.id, client.full_name, locked, left)
        if invitation.role is not InvitationRole.CLIENT or verdict is participants.Verdict.OK:
            person, secret = await participants.claim(
                db, invitation, appointment, participants.display_name(
                    invitation.role, client, form.get("name", "").strip()[:100]))
            audit.record(db, request, "invitation.use", "invitation", invitation.id,
                         client_id=client.id, role=invitation.role.value,
                         participant=person.id)
            cookie_age = participants.cookie_seconds(invitation, now())
            failed = None
    if failed is None:  # committed: now the browser may have its cookie
        response = web.HTTPSeeOther("/join")
        set_cookie(response, settings, participants.PARTICIPANT_COOKIE, secret,
                   max_age=cookie_age)
        raise response
    appointment_id, name, locked, left = failed
    if locked:
        await signalling_rooms(request).link_locked(appointment_id, name)
        return _join_invalid(request, locked=True)
    return render(request, "join_start.html", status=422, role="client", values=form,
                  token=token, error=Invalid(
                      N_("That date of birth does not match our records. You can try {left} "
                         "more times."), left=left))


@allow(Audience.PUBLIC)
async def join_room(request: web.Request) -> web.Response:
    """The call page for a person who joined by link (their cookie says who they are)."""
    secret = request.cookies.get(participants.PARTICIPANT_COOKIE, "")[:100]
    async with _db(request)() as db:
        found = await participants.current_participant(db, secret)
    if found is None:
        return _join_invalid(request)
    return render(request, "call.html", role=found[0].role.value, appointment=None)


# --- the organisation's policy ------------------------------------------------------------

async def _policy_context(request: web.Request) -> dict[str, Any]:
    """The policy in force and the history, for the policy pages."""
    org = _user(request).organisation_id
    async with _db(request)() as db:
        views = await policy_versions.history(db, org)
        policy = await request.app[keys.POLICIES].for_organisation(db, org)
    current = (policy_versions.as_dict(views[0], with_source=True) if views
               else policy_versions.shipped_dict(current=True, with_source=True))
    versions = [policy_versions.as_dict(v) for v in views]
    versions.append(policy_versions.shipped_dict(current=not views))
    return {"policy": policy, "current": current, "versions": versions, "zone": _zone(request)}


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_page(request: web.Request) -> web.Response:
    return render(request, "policy.html", **await _policy_context(request),
                  saved=request.query.get("saved"))


def _policy_form(request: web.Request, context: dict[str, Any], values: dict[str, Any],
                 error: Invalid | AppError | None = None, checked: str | None = None,
                 status: int = 200) -> web.Response:
    changes = policy_versions.diff(str(context["current"]["source"]),
                                   values.get("source", ""), _("in force"), _("your text"))
    return render(request, "policy_edit.html", status=status, **context, values=values,
                  error=error, checked=checked, changes=changes)


@allow(Role.ADMIN)
async def policy_edit(request: web.Request) -> web.Response:
    context = await _policy_context(request)
    start = (policy_versions.shipped_source() if request.query.get("from") == "default"
             else str(context["current"]["source"]))
    return _policy_form(request, context, {"source": start, "note": ""})


@allow(Role.ADMIN)
async def policy_save(request: web.Request) -> web.StreamResponse:
    """Check a new text, or save it as the version in force; problems leave it unsaved."""
    values = await _form(request)
    source = values.get("source", "").replace("\r\n", "\n")
    values["source"] = source
    try:
        if values.get("action") == "check":
            policy = policy_versions.validate(source)
            return _policy_form(request, await _policy_context(request), values,
                                checked=policy.version)
        async with _db(request).begin() as db:
            await policy_versions.save(db, request, _user(request), source,
                                       values.get("note", ""))
    except (Invalid, Conflict) as error:
        return _policy_form(request, await _policy_context(request), values, error,
                            status=error.status)
    raise web.HTTPSeeOther("/admin/policy?saved=1")


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_version_page(request: web.Request, error: AppError | None = None,
                              note: str = "") -> web.Response:
    context = await _policy_context(request)
    async with _db(request)() as db:
        row = await policy_versions.get_version(db, _user(request), path_id(request))
    changes = policy_versions.diff(row.source, str(context["current"]["source"]),
                                   _("version %(label)s") % {"label": row.label}, _("in force"))
    return render(request, "policy_version.html", status=error.status if error else 200,
                  **context, version=row, changes=changes, error=error, note=note)


@allow(Role.ADMIN)
async def policy_restore(request: web.Request) -> web.StreamResponse:
    """Put an earlier version back in force, stored again as the newest version."""
    values = await _form(request)
    try:
        async with _db(request).begin() as db:
            row = await policy_versions.get_version(db, _user(request), path_id(request))
            await policy_versions.save(db, request, _user(request), row.source,
                                       values.get("note", ""), restored_from=row)
    except (Invalid, Conflict) as error:
        return await policy_version_page(request, error, values.get("note", ""))
    raise web.HTTPSeeOther("/admin/policy?saved=1")


def signalling_rooms(request: web.Request) -> Any:
    from signalling.handler import ROOMS

    return request.app[ROOMS]


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
    r.add_post("/clients/{id}/approvals", approval_request, name="approval-request")
    r.add_get("/approvals", approvals_page, name="approvals")
    r.add_post("/approvals/{id}/decide", approval_decide, name="approval-decide")
    r.add_get("/admin/users", users_page, name="users")
    r.add_get("/admin/users/new", user_form, name="user-form")
    r.add_post("/admin/users", user_create, name="user-create")
    r.add_post("/admin/users/{id}/deactivate", user_set_active, name="user-deactivate")
    r.add_post("/admin/users/{id}/reactivate", user_set_active, name="user-reactivate")
    r.add_get("/admin/policy", policy_page, name="policy")
    r.add_get("/admin/policy/edit", policy_edit, name="policy-edit")
    r.add_post("/admin/policy", policy_save, name="policy-save")
    r.add_get("/admin/policy/versions/{id}", policy_version_page, name="policy-version")
    r.add_post("/admin/policy/versions/{id}/restore", policy_restore, name="policy-restore")
    r.add_get("/account", account_page, name="account")
    r.add_post("/account/tokens", token_create, name="token-create")
    r.add_post("/account/tokens/{id}/revoke", token_revoke, name="token-revoke")
    r.add_get("/appointments/{id}/call", call_page, name="call")
    r.add_get("/join/{token}", join, name="join")
    r.add_post("/join/{token}", join_submit, name="join-submit")
    r.add_get("/join", join_room, name="join-room")
