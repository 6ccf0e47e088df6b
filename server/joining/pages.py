"""The call pages and the link journey: the practitioner's session page, a link's
date-of-birth check, the page of a person who joined by link."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from server import keys
from server.casework import caseload
from server.clock import now
from server.errors import N_, Invalid
from server.forms import form_data, zone
from server.i18n import ngettext
from server.joining import invitations, journey, participants
from server.parsing import path_id
from server.render import render
from server.staff.access import Audience, allow
from server.staff.auth import (
    set_cookie,
    signed_in,
)
from server.store import audit
from server.store.models import (
    Client,
    InvitationRole,
    Role,
    User,
)

ROUTES = web.RouteTableDef()


@ROUTES.get("/appointments/{id}/call", name="call")
@allow(Role.PRACTITIONER)
async def call_page(request: web.Request) -> web.Response:
    """The practitioner's side of a remote appointment: waiting list, checklist, call."""
    user = signed_in(request)
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.own_remote_appointment(db, user, path_id(request))
        client = await caseload.get_client(db, user, appointment.client_id)
        audit.record(db, request, "call.open", "appointment", appointment.id,
                     client_id=client.id)
        had_interpreter = await invitations.had_interpreter(db, appointment.id)
    return render(request, "call.html", role="practitioner", appointment={
        "id": appointment.id, "client_id": client.id, "client_name": client.full_name,
        "starts_at_local": appointment.starts_at.astimezone(zone(request))
        .strftime("%a %d %b %Y, %H:%M"),
        "interpreter_needed": client.interpreter_needed, "had_interpreter": had_interpreter})


def _join_invalid(request: web.Request, locked: bool = False) -> web.Response:
    return render(request, "join_invalid.html", status=404, locked=locked)


def _birth_date(form: dict[str, Any]) -> date | None:
    try:
        return date(int(form.get("year", "")), int(form.get("month", "")),
                    int(form.get("day", "")))
    except (TypeError, ValueError):
        return None


@ROUTES.get("/join/{token}", name="join")
@allow(Audience.PUBLIC)
async def join(request: web.Request) -> web.StreamResponse:
    """An invitation link: a page that asks the client's date of birth (or the interpreter
    to continue). Nothing is used up by opening it."""
    token = request.match_info["token"][:100]
    secret = request.cookies.get(participants.PARTICIPANT_COOKIE, "")[:100]
    async with request.app[keys.DB]() as db:
        if await participants.returning(db, token, secret):
            raise web.HTTPSeeOther("/join")
        found = await participants.usable_link(db, token)
    if found is None:
        return _join_invalid(request)
    return render(request, "join_start.html", role=found[0].role.value, values={},
                  error=None, token=token)


@ROUTES.post("/join/{token}", name="join-submit")
@allow(Audience.PUBLIC)
async def join_submit(request: web.Request) -> web.StreamResponse:
    """Check the date of birth, use the link up, and swap it for a participant cookie."""
    settings = request.app[keys.SETTINGS]
    token = request.match_info["token"][:100]
    form = await form_data(request)
    failed: tuple[int, str, bool, int] | None = None
    async with request.app[keys.DB].begin() as db:
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
        await request.app[keys.LIVE_ROOMS].link_locked(appointment_id, name)
        return _join_invalid(request, locked=True)
    return render(request, "join_start.html", status=422, role="client", values=form,
                  token=token, error=Invalid(ngettext(
                      "That date of birth does not match our records. You can try {left} "
                      "more time.",
                      "That date of birth does not match our records. You can try {left} "
                      "more times.", left), left=left))


@ROUTES.get("/join", name="join-room")
@allow(Audience.PUBLIC)
async def join_room(request: web.Request) -> web.Response:
    """The call page for a person who joined by link (their cookie says who they are)."""
    secret = request.cookies.get(participants.PARTICIPANT_COOKIE, "")[:100]
    async with request.app[keys.DB]() as db:
        found = await participants.current_participant(db, secret)
    if found is None:
        return _join_invalid(request)
    async with request.app[keys.DB]() as db:
        step = await journey.current_step(db, found[0])
        officer = await db.get(User, found[2].practitioner_id)
    # The waiting screen's first line names who will let them in (a name people know).
    return render(request, "call.html", role=found[0].role.value, appointment=None,
                  journey_step=step, officer=officer.name if officer else "")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
