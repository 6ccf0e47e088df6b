"""The invitation endpoints of /api/v1: a link for the client or the interpreter, revoking one."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.casework import caseload, decisions
from server.casework.keys import POLICIES
from server.clock import now
from server.endpoints import Endpoint, json_out
from server.errors import N_, Conflict, Invalid, NotFound
from server.i18n import gettext as _
from server.joining import invitations
from server.joining.schemas import InvitationCreated, InvitationIn, InvitationOut
from server.outbox import addresses, queue
from server.parsing import json_body, path_id
from server.staff.access import allow
from server.staff.auth import signed_in
from server.store import audit
from server.store.models import Appointment, Client, Invitation, InvitationRole, Role


def address(channel: str, raw: str) -> str:
    """The address a link is sent to, checked like a client's contact details."""
    try:
        return addresses.phone(raw) if channel == "sms" else addresses.email(raw)
    except addresses.BadAddress as bad:
        raise Invalid(N_("Please correct: {summary}"), summary=_(str(bad)),
                      errors=[{"field": "send.to", "message": _(str(bad))}]) from None


@allow(Role.PRACTITIONER)
async def invitation_create(request: web.Request) -> web.Response:
    """A link for the client or the interpreter; earlier links for that person stop working."""
    data = await json_body(request, InvitationIn)
    to = address(data.send.channel, data.send.to) if data.send else ""
    user = signed_in(request)
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.own_remote_appointment(db, user, path_id(request))
        client = await db.get(Client, appointment.client_id)
        assert client is not None
        # An interpreter's link can always be remade (#14), even if the record changed since.
        if data.role is InvitationRole.INTERPRETER and not client.interpreter_needed \
                and not await invitations.had_interpreter(db, appointment.id):
            raise Invalid(N_("This client's record does not say they need an interpreter. "
                             "Update the record first."),
                          errors=[{"field": "role", "message": "no interpreter needed"}])
        decision = await decisions.decide_remote(db, request.app[POLICIES], appointment,
                                                 client, now())
        decisions.record(db, decision, point="mint", client_id=client.id,
                         appointment_id=appointment.id, now=now(), actor_user_id=user.id)
        if not decision.allowed:  # each reason once; no approval advice for a block
            refused = decisions.to_say(decisions.explain(decision))
    if not decision.allowed:  # the decision is kept; no link is made
        raise Conflict(N_("The policy does not allow this remote session now: {reasons}"),
                       reasons=" ".join(f"{r['message']} {r['remedy']}" for r in refused),
                       errors=[{"field": "policy", "rule": r["rule"], "message": r["message"],
                                "remedy": r["remedy"]} for r in refused])
    async with request.app[keys.DB].begin() as db:
        appointment = await caseload.own_remote_appointment(db, user, path_id(request))
        rooms = request.app[keys.LIVE_ROOMS]
        replaced = await rooms.revoke_links(db, appointment.id, data.role.value, now())
        row, token = await invitations.mint(db, appointment, data.role, user, settings)
        audit.record(db, request, "invitation.create", "invitation", row.id,
                     client_id=client.id, role=data.role.value,
                     sent_by=data.send.channel if data.send else None)
        sent = data.send is not None
        if data.send is not None:  # through the outbox, in this transaction
            await queue.enqueue(
                db, organisation_id=client.organisation_id, kind="text",
                channel=data.send.channel, recipient=to, client_id=client.id,
                appointment_id=appointment.id,
                payload={"text": _("Your probation appointment by video: {link}"),
                         "subject": _("Your probation appointment by video"),
                         "link": invitations.link(settings, token)})
    if replaced:
        await rooms.removed(appointment.id, replaced)
    link = invitations.link(settings, token)
    out = InvitationOut.model_validate(row).model_dump(mode="json")
    return json_out(InvitationCreated, {**out, "link": link, "sent": sent}, status=201)


@allow(Role.PRACTITIONER)
async def invitation_revoke(request: web.Request) -> web.Response:
    """Stop a link working; whoever joined with it leaves the room."""
    user = signed_in(request)
    async with request.app[keys.DB].begin() as db:
        row = await db.get(Invitation, path_id(request))
        appointment = await db.get(Appointment, row.appointment_id) if row else None
        if row is None or appointment is None or appointment.practitioner_id != user.id:
            raise NotFound(N_("No invitation with id {id} is yours."), id=path_id(request))
        if row.revoked_at is None:
            row.revoked_at = now()
        replaced = await request.app[keys.LIVE_ROOMS].revoke_links(
            db, appointment.id, row.role.value, now())
        audit.record(db, request, "invitation.revoke", "invitation", row.id,
                     client_id=appointment.client_id)
    await request.app[keys.LIVE_ROOMS].removed(appointment.id, replaced)
    return json_out(InvitationOut, row)


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("POST", "/appointments/{id}/invitations", invitation_create, "api-invitation-create",
      "Create an invitation link for the client or interpreter (optionally send it). An "
      "interpreter's link needs the client's record to say an interpreter is needed "
      "(`interpreter_needed`); otherwise 422 with field `role`",
      body=InvitationIn, response=InvitationCreated, status=201, tags=("calls",),
      conflict="The policy does not allow this remote session now (each reason in `errors`, "
               "field `policy`); no link was made"),
    E("POST", "/invitations/{id}/revoke", invitation_revoke, "api-invitation-revoke",
      "Revoke an invitation link", response=InvitationOut, tags=("calls",)),
)
