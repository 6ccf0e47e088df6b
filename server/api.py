"""The JSON API under /api/v1: everything the staff pages do, for the case-management systems.

Each endpoint is declared once in `ENDPOINTS`; routes and the OpenAPI document are both
built from that table, so the document cannot fall out of step with what is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server import keys

from server.casework import caseload, decisions, policy_versions

from server.joining import invitations

from server.privacy import pages as privacy

from server.staff import accounts

from server.store import audit
from server.staff.access import ATTRIBUTE, Audience, Handler, allow
from server.staff.auth import session_cookie_name
from server.clock import now
from server.errors import N_, Conflict, Forbidden, Invalid, NotFound
from server.i18n import gettext as _
from server.store.models import Appointment, Client, Invitation, InvitationRole, Role, User
from server.joining.notify import Outgoing
from server.parsing import json_body, path_id
from server.schemas import (
    AccessEntryOut,
    AppointmentIn,
    AppointmentOut,
    ClientOut,
    ContactIn,
    ContactOut,
    DecisionOut,
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    PolicyCheckIn,
    PolicyCheckOut,
    PolicyIn,
    PolicyOut,
    PolicyVersionOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)

PREFIX = "/api/v1"
PRACTICE = (Role.PRACTITIONER, Role.SUPERVISOR)


def _user(request: web.Request) -> User:
    user = request[keys.USER]
    assert user is not None, "only called behind a rule that requires a signed-in caller"
    return user


def _json(model: type[BaseModel], value: Any, status: int = 200) -> web.Response:
    return web.json_response(model.model_validate(value).model_dump(mode="json"), status=status)


def _list(model: type[BaseModel], values: Sequence[Any]) -> web.Response:
    items = [model.model_validate(v).model_dump(mode="json") for v in values]
    return web.json_response({"items": items})


def _user_out(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name,
            "roles": sorted(user.roles), "team_id": user.team_id, "active": user.active}


@allow(Audience.STAFF)
async def me(request: web.Request) -> web.Response:
    return _json(UserOut, _user_out(_user(request)))


@allow(*PRACTICE)
async def clients(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        rows = await caseload.caseload(db, _user(request))
        audit.record(db, request, "caseload.view", "caseload", _user(request).id,
                     clients=len(rows))
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
            db, request, _user(request), path_id(request))
    out = ClientOut.model_validate(found)
    out.last_face_to_face_at = next((c.happened_at for c in contacts
                                     if c.kind == "face_to_face" and c.outcome == "attended"),
                                    None)
    return web.json_response(out.model_dump(mode="json"))


@allow(*PRACTICE)
async def contacts(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        _client, found, _ = await caseload.view_client(db, request, _user(request),
                                                       path_id(request))
    return _list(ContactOut, found)


@allow(Role.PRACTITIONER)
async def contact_create(request: web.Request) -> web.Response:
    data = await json_body(request, ContactIn)
    async with request.app[keys.DB].begin() as db:
        contact = await caseload.add_contact(db, request, _user(request), path_id(request), data)
    return _json(ContactOut, contact, status=201)


@allow(*PRACTICE)
async def appointments(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        _client, _, found = await caseload.view_client(db, request, _user(request),
                                                       path_id(request))
    return _list(AppointmentOut, found)


@allow(Role.PRACTITIONER)
async def appointment_create(request: web.Request) -> web.Response:
    data = await json_body(request, AppointmentIn)
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.schedule(db, request, _user(request), path_id(request),
                                              data)
    out = AppointmentOut.model_validate(appointment)
    decision = request.get(keys.DECISION)
    if decision is not None:
        out.decision = DecisionOut.model_validate(decisions.explain(decision))
    return web.json_response(out.model_dump(mode="json"), status=201)


@allow(Role.PRACTITIONER)
async def appointment_cancel(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.cancel(db, request, _user(request), path_id(request))
    return _json(AppointmentOut, appointment)


@allow(Role.SUPERVISOR)
async def team(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        teams = await caseload.team_caseloads(db, _user(request))
        audit.record(db, request, "team.view", "team", _user(request).team_id)
    return web.json_response({"items": [
        {"practitioner": _user_out(person),
         "clients": [ClientOut.model_validate(c).model_dump(mode="json") for c in people]}
        for person, people in teams
    ]})


@allow(Role.ADMIN)
async def users(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        found = await accounts.list_users(db, _user(request))
        audit.record(db, request, "users.view", "organisation", _user(request).organisation_id,
                     users=len(found))
    return web.json_response({"items": [_user_out(u) for u in found]})


@allow(Role.ADMIN)
async def user_create(request: web.Request) -> web.Response:
    data = await json_body(request, UserIn)
    async with request.app[keys.DB].begin() as db:
        user = await accounts.create_user(db, request, _user(request),
                                          _user(request).organisation_id, data)
    return _json(UserOut, _user_out(user), status=201)


@allow(Role.ADMIN)
async def user_set_active(request: web.Request) -> web.Response:
    active = request.match_info.route.name == "api-user-reactivate"
    async with request.app[keys.DB].begin() as db:
        user = await accounts.set_active(db, request, _user(request), path_id(request), active)
    return _json(UserOut, _user_out(user))


@allow(Audience.STAFF)
async def tokens(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        found = await accounts.list_tokens(db, _user(request))
    return _list(TokenOut, found)


@allow(Audience.STAFF)
async def token_create(request: web.Request) -> web.Response:
    identity = request[keys.IDENTITY]
    assert identity is not None
    if identity.via != "session":
        raise Forbidden(N_("API tokens can only be created while signed in, not with a token."))
    data = await json_body(request, TokenIn)
    async with request.app[keys.DB].begin() as db:
        row, secret = await accounts.create_token(db, request, _user(request), data,
                                                  request.app[keys.SETTINGS])
    out = TokenOut.model_validate(row).model_dump(mode="json")
    return _json(TokenCreated, {**out, "token": secret}, status=201)


@allow(Audience.STAFF)
async def token_revoke(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        row = await accounts.revoke_token(db, request, _user(request), path_id(request))
    return _json(TokenOut, row)


@allow(Role.PRACTITIONER)
async def invitation_create(request: web.Request) -> web.Response:
    """A link for the client or the interpreter; earlier links for that person stop working."""
    from signalling.handler import ROOMS

    data = await json_body(request, InvitationIn)
    user = _user(request)
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.own_remote_appointment(db, user, path_id(request))
        client = await db.get(Client, appointment.client_id)
        assert client is not None
        if data.role is InvitationRole.INTERPRETER and not client.interpreter_needed:
            raise Invalid(N_("This client's record does not say they need an interpreter. "
                             "Update the record first."),
                          errors=[{"field": "role", "message": "no interpreter needed"}])
        decision = await decisions.decide_remote(db, request.app[keys.POLICIES], appointment,
                                                 client, now())
        decisions.record(db, decision, point="mint", client_id=client.id,
                         appointment_id=appointment.id, now=now(), actor_user_id=user.id)
        if not decision.allowed:
            refused = decisions.explain(decision)["reasons"]
    if not decision.allowed:  # the decision is kept; no link is made
        raise Conflict(N_("The policy does not allow this remote session now: {reasons}"),
                       reasons=" ".join(f"{r['message']} {r['remedy']}" for r in refused
                                        if r["outcome"] != "allowed"),
                       errors=[{"field": "policy", "rule": r["rule"], "message": r["message"],
                                "remedy": r["remedy"]} for r in refused])
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.own_remote_appointment(db, user, path_id(request))
        rooms = request.app[ROOMS]
        replaced = await rooms.revoke_links(db, appointment.id, data.role.value, now())
        row, token = await invitations.mint(db, appointment, data.role, user, settings)
        audit.record(db, request, "invitation.create", "invitation", row.id,
                     client_id=client.id, role=data.role.value,
                     sent_by=data.send.channel if data.send else None)
    for participant in replaced:
        await request.app[keys.BUS].send(appointment.id, participant, {"type": "removed"})
    if replaced:
        await rooms.roster(appointment.id)
    link = invitations.link(settings, token)
    sent = False
    if data.send is not None:
        text = _("Your probation appointment by video: {link}").format(link=link)
        await request.app[keys.NOTIFIER].send(Outgoing(data.send.channel, data.send.to, text,
                                                        link))
        sent = True
    out = InvitationOut.model_validate(row).model_dump(mode="json")
    return _json(InvitationCreated, {**out, "link": link, "sent": sent}, status=201)


@allow(Role.PRACTITIONER)
async def invitation_revoke(request: web.Request) -> web.Response:
    """Stop a link working; whoever joined with it leaves the room."""
    from signalling.handler import ROOMS

    user = _user(request)
    async with request.app[keys.DB].begin() as db:
        row = await db.get(Invitation, path_id(request))
        appointment = await db.get(Appointment, row.appointment_id) if row else None
        if row is None or appointment is None or appointment.practitioner_id != user.id:
            raise NotFound(N_("No invitation with id {id} is yours."), id=path_id(request))
        if row.revoked_at is None:
            row.revoked_at = now()
        replaced = await request.app[ROOMS].revoke_links(db, appointment.id, row.role.value,
                                                         now())
        audit.record(db, request, "invitation.revoke", "invitation", row.id,
                     client_id=appointment.client_id)
    for participant in replaced:
        await request.app[keys.BUS].send(appointment.id, participant, {"type": "removed"})
    await request.app[ROOMS].roster(appointment.id)
    return _json(InvitationOut, row)


# --- the organisation's policy (admins change it; supervisors read it) -------------------

@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_current(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        views = await policy_versions.history(db, _user(request).organisation_id)
    body = (policy_versions.as_dict(views[0], with_source=True) if views
            else policy_versions.shipped_dict(current=True, with_source=True))
    return _json(PolicyOut, body)


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_history(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        views = await policy_versions.history(db, _user(request).organisation_id)
    items = [policy_versions.as_dict(v) for v in views]
    items.append(policy_versions.shipped_dict(current=not views))
    return _list(PolicyVersionOut, items)


@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_version(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        row = await policy_versions.get_version(db, _user(request), path_id(request))
        newest = await policy_versions.newest(db, row.organisation_id)
    view = policy_versions.VersionView(row, None, newest is not None and newest.id == row.id)
    return _json(PolicyOut, policy_versions.as_dict(view, with_source=True))


@allow(Role.ADMIN)
async def policy_save(request: web.Request) -> web.Response:
    """Store a new version; it is in force for the next decision. Problems: 422, nothing saved."""
    data = await json_body(request, PolicyIn)
    async with request.app[keys.DB].begin() as db:
        row = await policy_versions.save(db, request, _user(request), data.source, data.note)
    view = policy_versions.VersionView(row, _user(request).name, True)
    return _json(PolicyOut, policy_versions.as_dict(view, with_source=True), status=201)


@allow(Role.ADMIN)
async def policy_check(request: web.Request) -> web.Response:
    """Validate a policy text without saving it."""
    data = await json_body(request, PolicyCheckIn)
    policy = policy_versions.validate(data.source)
    return _json(PolicyCheckOut, {"valid": True, "label": policy.version})


@allow(Audience.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    from server.openapi import document

    cookie = session_cookie_name(request.app[keys.SETTINGS])
    return web.json_response(document(ENDPOINTS, cookie=cookie))


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    name: str
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    listing: bool = False
    status: int = 200
    tags: tuple[str, ...] = field(default=())
    # Query parameters as (name, description); `csv` also offers text/csv.
    query: tuple[tuple[str, str], ...] = field(default=())
    csv: bool = False
    media_type: str = "application/json"

    @property
    def rule(self) -> frozenset[Any]:
        rule: frozenset[Any] = getattr(self.handler, ATTRIBUTE)
        return rule


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/me", me, "api-me", "The signed-in person", response=UserOut, tags=("account",)),
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
      "Cancel an appointment", response=AppointmentOut, tags=("caseload",)),
    E("GET", "/team", team, "api-team", "Your team's caseloads (supervisors)",
      tags=("caseload",)),
    E("GET", "/users", users, "api-users", "Staff accounts (admins)", response=UserOut,
      listing=True, tags=("admin",)),
    E("POST", "/users", user_create, "api-user-create", "Create a staff account (admins)",
      body=UserIn, response=UserOut, status=201, tags=("admin",)),
    E("POST", "/users/{id}/deactivate", user_set_active, "api-user-deactivate",
      "Deactivate an account: its sessions and tokens end at once", response=UserOut,
      tags=("admin",)),
    E("POST", "/users/{id}/reactivate", user_set_active, "api-user-reactivate",
      "Reactivate an account", response=UserOut, tags=("admin",)),
    E("GET", "/tokens", tokens, "api-tokens", "Your personal API tokens", response=TokenOut,
      listing=True, tags=("account",)),
    E("POST", "/tokens", token_create, "api-token-create",
      "Create a personal API token (signed-in session only)", body=TokenIn,
      response=TokenCreated, status=201, tags=("account",)),
    E("POST", "/tokens/{id}/revoke", token_revoke, "api-token-revoke",
      "Revoke one of your API tokens", response=TokenOut, tags=("account",)),
    E("POST", "/appointments/{id}/invitations", invitation_create, "api-invitation-create",
      "Create an invitation link for the client or interpreter (optionally send it)",
      body=InvitationIn, response=InvitationCreated, status=201, tags=("calls",)),
    E("POST", "/invitations/{id}/revoke", invitation_revoke, "api-invitation-revoke",
      "Revoke an invitation link", response=InvitationOut, tags=("calls",)),
    E("GET", "/policy", policy_current, "api-policy", "The organisation's policy in force",
      response=PolicyOut, tags=("policy",)),
    E("GET", "/policy/versions", policy_history, "api-policy-versions",
      "Every version of the policy, newest first (the shipped default last)",
      response=PolicyVersionOut, listing=True, tags=("policy",)),
    E("GET", "/policy/versions/{id}", policy_version, "api-policy-version",
      "One stored version of the policy", response=PolicyOut, tags=("policy",)),
    E("POST", "/policy", policy_save, "api-policy-save",
      "Save a new version of the policy (admins); in force at once", body=PolicyIn,
      response=PolicyOut, status=201, tags=("policy",)),
    E("POST", "/policy/check", policy_check, "api-policy-check",
      "Check a policy text without saving it (admins)", body=PolicyCheckIn,
      response=PolicyCheckOut, tags=("policy",)),
    E("GET", "/openapi.json", openapi, "api-openapi", "This document", tags=("meta",)),
    # --- data protection (server/privacy.py)
    E("GET", "/clients/{id}/access-log", privacy.api_access_log, "api-access-log",
      "Who accessed a client's information, newest first (data protection officers; "
      "?before=SEQ for older entries)", response=AccessEntryOut, listing=True,
      tags=("data protection",)),
    E("GET", "/clients/{id}/subject-access", privacy.export_json, "api-subject-access",
      "Everything held about a client, streamed as JSON (data protection officers; "
      "?reference= records the request's reference)", tags=("data protection",)),
    E("DELETE", "/audit/{id}", privacy.api_audit_tamper, "api-audit-delete",
      "Audit entries can never be deleted: always refused, and the attempt logged",
      status=403, tags=("data protection",)),
    E("PATCH", "/audit/{id}", privacy.api_audit_tamper, "api-audit-update",
      "Audit entries can never be changed: always refused, and the attempt logged",
      status=403, tags=("data protection",)),
)


def _record_endpoints() -> tuple[Endpoint, ...]:
    from server.records import api as records_api

    return tuple(e for e in records_api.endpoints() if isinstance(e, Endpoint))


ENDPOINTS = ENDPOINTS + _record_endpoints()
# Recordings (issue #5, server/recordings.py): the session's practitioner and their supervisor.
from server.recordings import views as _recordings  # noqa: E402 - after Endpoint, which it needs not

ENDPOINTS += (
    E("GET", "/recordings/{id}", _recordings.recording_meta, "api-recording",
      "A recording's details and files (the session's practitioner or their supervisor)",
      response=_recordings.RecordingOut, tags=("recordings",)),
    E("GET", "/recordings/{id}/download", _recordings.recording_download,
      "api-recording-download",
      "Download one file of a recording (?file=NAME from its details), decrypted as sent",
      tags=("recordings",), media_type="video/x-matroska"),
)


def setup(app: web.Application) -> None:
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, PREFIX + endpoint.path, endpoint.handler,
                             name=endpoint.name)
