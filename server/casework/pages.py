"""Casework pages: the caseload, a client's record, contacts, appointments, the team, approvals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from server import keys
from server.casework import approvals, caseload, decisions
from server.casework.keys import POLICIES
from server.casework.schemas import AppointmentIn, ContactIn
from server.clock import now
from server.errors import Invalid
from server.forms import form_data, local_to_aware, zone
from server.outbox.status import delivery_by_appointment
from server.parsing import path_id, validate
from server.render import render
from server.staff.access import PRACTICE, allow
from server.staff.auth import (
    signed_in,
)
from server.store import audit
from server.store.models import (
    AppointmentKind,
    ContactKind,
    ContactOutcome,
    Role,
)

ROUTES = web.RouteTableDef()


@ROUTES.get("/caseload", name="caseload")
@allow(*PRACTICE)
async def caseload_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        rows = await caseload.caseload(db, signed_in(request))
        audit.record(db, request, "caseload.view", "caseload", signed_in(request).id,
                     clients=len(rows))
        # Names and dates of birth were shown: each client's access log says so.
        audit.record_each(db, request, "caseload.listed", "client", [c.id for c, _ in rows])
        # Contact records still waiting for the practitioner's outcome and notes.
        open_records = await caseload.open_records(db, signed_in(request))
    return render(request, "caseload.html", rows=rows, zone=zone(request), today=now(),
                  open_records=open_records)


@ROUTES.get("/clients/{id}", name="client")
@allow(*PRACTICE)
async def client_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        client, contacts, appointments = await caseload.view_client(
            db, request, signed_in(request), path_id(request))
        policy = await caseload.upcoming_decisions(db, request, client, appointments)
        pending = await approvals.pending_for(db, client.id)
        # What became of the messages about each appointment (issue 15).
        deliveries = await delivery_by_appointment(db, [a.id for a in appointments])
    made = request.query.get("appointment", "")
    saved = next((a for a in appointments if made.isdigit() and a.id == int(made)), None)
    moved = request.query.get("moved", "")
    moved_one = next((a for a in appointments if moved.isdigit() and a.id == int(moved)), None)
    return render(request, "client.html", client=client, contacts=contacts, policy=policy,
                  pending_approval=pending, saved=saved, to_say=decisions.to_say,
                  moved=moved_one,
                  deliveries=deliveries,
                  appointments=appointments, zone=zone(request), now=now(),
                  timedelta=timedelta,
                  created=request.query.get("created"))


def _contact_form(request: web.Request, client: Any, values: dict[str, Any],
                  error: Invalid | None, status: int = 200) -> web.Response:
    return render(request, "contact_form.html", status=status, client=client, values=values,
                  error=error, kinds=list(ContactKind), outcomes=list(ContactOutcome))


@ROUTES.get("/clients/{id}/contacts/new", name="contact-form")
@allow(Role.PRACTITIONER)
async def contact_form(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        client = await caseload.get_client(db, signed_in(request), path_id(request))
    default = {"kind": "face_to_face", "outcome": "attended",
               "happened_at": now().astimezone(zone(request)).strftime("%Y-%m-%dT%H:%M")}
    return _contact_form(request, client, default, None)


@ROUTES.post("/clients/{id}/contacts", name="contact-create")
@allow(Role.PRACTITIONER)
async def contact_create(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    values = await form_data(request)
    try:
        data = dict(values, sensitive=values.get("sensitive") == "on")
        local_to_aware(request, data, "happened_at")
        parsed = validate(ContactIn, data)
        async with request.app[keys.DB].begin() as db:
            await caseload.add_contact(db, request, signed_in(request), client_id, parsed)
    except Invalid as error:
        async with request.app[keys.DB]() as db:
            client = await caseload.get_client(db, signed_in(request), client_id)
        return _contact_form(request, client, values, error, status=422)
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=contact")


def _appointment_form(request: web.Request, client: Any, values: dict[str, Any],
                      error: Invalid | None, status: int = 200) -> web.Response:
    return render(request, "appointment_form.html", status=status, client=client,
                  values=values, error=error, kinds=list(AppointmentKind))


@ROUTES.get("/clients/{id}/appointments/new", name="appointment-form")
@allow(Role.PRACTITIONER)
async def appointment_form(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        client = await caseload.get_client(db, signed_in(request), path_id(request))
    # "Book in person instead" (offered when the policy refuses remote) asks for in_person.
    kind = "in_person" if request.query.get("kind") == "in_person" else "remote"
    return _appointment_form(request, client, {"kind": kind, "duration_minutes": "30"}, None)


@ROUTES.post("/clients/{id}/appointments", name="appointment-create")
@allow(Role.PRACTITIONER)
async def appointment_create(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    values = await form_data(request)
    try:
        data = dict(values)
        local_to_aware(request, data, "starts_at")
        parsed = validate(AppointmentIn, data)
        async with request.app[keys.DB].begin() as db:
            made = await caseload.schedule(db, request, signed_in(request), client_id, parsed)
    except Invalid as error:
        async with request.app[keys.DB]() as db:
            client = await caseload.get_client(db, signed_in(request), client_id)
        return _appointment_form(request, client, values, error, status=422)
    # The client page says what was saved and what can happen next for this one.
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=appointment&appointment={made.id}")


@ROUTES.post("/appointments/{id}/cancel", name="appointment-cancel")
@allow(Role.PRACTITIONER)
async def appointment_cancel(request: web.Request) -> web.StreamResponse:
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.cancel(db, request, signed_in(request), path_id(request))
    raise web.HTTPSeeOther(f"/clients/{appointment.client_id}")


@ROUTES.get("/team", name="team")
@allow(Role.SUPERVISOR)
async def team_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        teams = await caseload.team_caseloads(db, signed_in(request))
        audit.record(db, request, "team.view", "team", signed_in(request).team_id)
    return render(request, "team.html", teams=teams)


@ROUTES.post("/clients/{id}/approvals", name="approval-request")
@allow(Role.PRACTITIONER)
async def approval_request(request: web.Request) -> web.StreamResponse:
    form = await form_data(request)
    client_id = path_id(request)
    async with request.app[keys.DB].begin() as db:
        await approvals.request(db, request, signed_in(request), client_id,
                                form.get("note", "").strip())
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=approval")


@ROUTES.get("/approvals", name="approvals")
@allow(Role.SUPERVISOR)
async def approvals_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        rows = await approvals.for_supervisor(db, signed_in(request))
        audit.record(db, request, "approvals.view", "team", signed_in(request).team_id)
    return render(request, "approvals.html", rows=rows, zone=zone(request), values={},
                  error=None, failed_id=None, decided=request.query.get("decided"))


@ROUTES.post("/approvals/{id}/decide", name="approval-decide")
@allow(Role.SUPERVISOR)
async def approval_decide(request: web.Request) -> web.Response:
    form = await form_data(request)
    approval_id = path_id(request)
    try:
        async with request.app[keys.DB].begin() as db:
            policy = await request.app[POLICIES].for_organisation(
                db, signed_in(request).organisation_id)
            await approvals.decide(
                db, request, signed_in(request), approval_id,
                approve=form.get("decision") == "approve",
                rationale=form.get("rationale", ""), expires_on=form.get("expires_on", ""),
                zone=zone(request), policy=policy)
    except Invalid as error:
        async with request.app[keys.DB]() as db:
            rows = await approvals.for_supervisor(db, signed_in(request))
        return render(request, "approvals.html", status=422, rows=rows, zone=zone(request),
                      values=form, error=error, failed_id=approval_id, decided=None)
    raise web.HTTPSeeOther("/approvals?decided=1")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
