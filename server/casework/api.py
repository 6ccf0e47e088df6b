"""The casework endpoints of /api/v1: clients, contacts, appointments, the team, the policy."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.casework import caseload, contact_details, decisions, policy_versions
from server.casework.schemas import (
    AppointmentIn,
    AppointmentOut,
    ClientOut,
    ContactDetailsIn,
    ContactIn,
    ContactOut,
    DecisionOut,
    MoveIn,
    PolicyCheckIn,
    PolicyCheckOut,
    PolicyIn,
    PolicyOut,
    PolicyVersionOut,
)
from server.endpoints import Endpoint, json_out, list_out
from server.parsing import json_body, path_id
from server.staff.access import PRACTICE, allow, sensitive
from server.staff.api import user_out
from server.staff.auth import signed_in
from server.store import audit
from server.store.models import Role


@allow(*PRACTICE)
async def clients(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        rows = await caseload.caseload(db, signed_in(request))
        audit.record(db, request, "caseload.view", "caseload", signed_in(request).id,
                     clients=len(rows))
        # Names and dates of birth were shown: each client's access log says so.
        audit.record_each(db, request, "caseload.listed", "client", [c.id for c, _ in rows])
    items = []
    for client, last in rows:
        out = ClientOut.model_validate(client)
        out.last_face_to_face_at = last
        items.append(out.model_dump(mode="json"))
    return web.json_response({"items": items})


@allow(*PRACTICE)
async def client(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        found, contacts, _appointments = await caseload.view_client(
            db, request, signed_in(request), path_id(request))
    out = ClientOut.model_validate(found)
    out.last_face_to_face_at = next((c.happened_at for c in contacts
                                     if c.kind == "face_to_face" and c.outcome == "attended"),
                                    None)
    return web.json_response(out.model_dump(mode="json"))


@allow(*PRACTICE)
async def contacts(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        _client, found, _ = await caseload.view_client(db, request, signed_in(request),
                                                       path_id(request))
    return list_out(ContactOut, found)


@allow(Role.PRACTITIONER)
async def contact_create(request: web.Request) -> web.Response:
    data = await json_body(request, ContactIn)
    async with request.app[keys.DB].begin() as db:
        contact = await caseload.add_contact(db, request, signed_in(request), path_id(request),
                                             data)
    return json_out(ContactOut, contact, status=201)


@allow(*PRACTICE)
async def appointments(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        _client, _, found = await caseload.view_client(db, request, signed_in(request),
                                                       path_id(request))
    return list_out(AppointmentOut, found)


@allow(Role.PRACTITIONER)
async def appointment_create(request: web.Request) -> web.Response:
    data = await json_body(request, AppointmentIn)
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.schedule(db, request, signed_in(request), path_id(request),
                                              data)
    out = AppointmentOut.model_validate(appointment)
    decision = request.get(keys.DECISION)
    if decision is not None:
        out.decision = DecisionOut.model_validate(decisions.explain(decision))
    return web.json_response(out.model_dump(mode="json"), status=201)


@allow(Role.PRACTITIONER)
async def appointment_cancel(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.cancel(db, request, signed_in(request), path_id(request))
    return json_out(AppointmentOut, appointment)


@allow(Role.PRACTITIONER)
async def contact_details_set(request: web.Request) -> web.Response:
    """How the client is reached (mobile, email, which to use); bad ones refused with 422."""
    data = await json_body(request, ContactDetailsIn)
    async with request.app[keys.DB].begin() as db:
        found = await contact_details.set_contact_details(db, request, signed_in(request),
                                                          path_id(request), data)
    return json_out(ClientOut, found)


@allow(Role.PRACTITIONER)
async def appointment_move(request: web.Request) -> web.Response:
    """A new time; the client is sent the change and reminders for the new time."""
    data = await json_body(request, MoveIn)
    async with request.app[keys.DB].begin() as db:
        appointment = await contact_details.move(db, request, signed_in(request),
                                                 path_id(request), data.starts_at)
    return json_out(AppointmentOut, appointment)


@allow(Role.SUPERVISOR)
async def team(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        teams = await caseload.team_caseloads(db, signed_in(request))
        audit.record(db, request, "team.view", "team", signed_in(request).team_id)
    return web.json_response({"items": [
        {"practitioner": user_out(person),
         "clients": [ClientOut.model_validate(c).model_dump(mode="json") for c in people]}
        for person, people in teams
    ]})


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_current(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        views = await policy_versions.history(db, signed_in(request).organisation_id)
    body = (policy_versions.as_dict(views[0], with_source=True) if views
            else policy_versions.shipped_dict(current=True, with_source=True))
    return json_out(PolicyOut, body)


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_history(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        views = await policy_versions.history(db, signed_in(request).organisation_id)
    items = [policy_versions.as_dict(v) for v in views]
    items.append(policy_versions.shipped_dict(current=not views))
    return list_out(PolicyVersionOut, items)


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_version(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        row = await policy_versions.get_version(db, signed_in(request), path_id(request))
        newest = await policy_versions.newest(db, row.organisation_id)
    view = policy_versions.VersionView(row, None, newest is not None and newest.id == row.id)
    return json_out(PolicyOut, policy_versions.as_dict(view, with_source=True))


@allow(Role.ADMIN)
@sensitive()
async def policy_save(request: web.Request) -> web.Response:
    """Store a new version; it is in force for the next decision. Problems: 422, nothing saved."""
    data = await json_body(request, PolicyIn)
    async with request.app[keys.DB].begin() as db:
        row = await policy_versions.save(db, request, signed_in(request), data.source, data.note)
    view = policy_versions.VersionView(row, signed_in(request).name, True)
    return json_out(PolicyOut, policy_versions.as_dict(view, with_source=True), status=201)


@allow(Role.ADMIN)
async def policy_check(request: web.Request) -> web.Response:
    """Validate a policy text without saving it."""
    data = await json_body(request, PolicyCheckIn)
    policy = policy_versions.validate(data.source)
    return json_out(PolicyCheckOut, {"valid": True, "label": policy.version})


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/clients", clients, "api-clients", "Clients in your caseload (or your team's)",
      response=ClientOut, listing=True, tags=("caseload",)),
    E("GET", "/clients/{id}", client, "api-client", "One client", response=ClientOut,
      tags=("caseload",)),
    E("GET", "/clients/{id}/contacts", contacts, "api-contacts", "A client's contact history",
      response=ContactOut, listing=True, tags=("caseload",)),
    E("POST", "/clients/{id}/contacts", contact_create, "api-contact-create",
      "Record a contact", body=ContactIn, response=ContactOut, status=201, tags=("caseload",)),
    E("GET", "/clients/{id}/appointments", appointments, "api-appointments",
      "A client's appointments", response=AppointmentOut, listing=True, tags=("caseload",)),
    E("POST", "/clients/{id}/appointments", appointment_create, "api-appointment-create",
      "Schedule an appointment", body=AppointmentIn, response=AppointmentOut, status=201,
      tags=("caseload",)),
    E("POST", "/appointments/{id}/cancel", appointment_cancel, "api-appointment-cancel",
      "Cancel an appointment", response=AppointmentOut, tags=("caseload",),
      conflict="The appointment was already cancelled"),
    E("GET", "/team", team, "api-team", "Your team's caseloads (supervisors)",
      tags=("caseload",)),
    E("GET", "/policy", policy_current, "api-policy", "The organisation's policy in force",
      response=PolicyOut, tags=("policy",)),
    E("GET", "/policy/versions", policy_history, "api-policy-versions",
      "Every version of the policy, newest first (the shipped default last)",
      response=PolicyVersionOut, listing=True, tags=("policy",)),
    E("GET", "/policy/versions/{id}", policy_version, "api-policy-version",
      "One stored version of the policy", response=PolicyOut, tags=("policy",)),
    E("POST", "/policy", policy_save, "api-policy-save",
      "Save a new version of the policy (admins); in force at once", body=PolicyIn,
      response=PolicyOut, status=201, tags=("policy",),
      conflict="This text is the version in force already; nothing was changed"),
    E("POST", "/policy/check", policy_check, "api-policy-check",
      "Check a policy text without saving it (admins)", body=PolicyCheckIn,
      response=PolicyCheckOut, tags=("policy",)),
    E("PUT", "/clients/{id}/contact-details", contact_details_set, "api-contact-details",
      "Record how the client is reached (their practitioner)", body=ContactDetailsIn,
      response=ClientOut, tags=("caseload",)),
    E("PUT", "/appointments/{id}/starts-at", appointment_move, "api-appointment-move",
      "Move an appointment to a new time; the client is told", body=MoveIn,
      response=AppointmentOut, tags=("caseload",),
      conflict="The appointment was cancelled; book a new one instead"),
)
