"""The contact-record endpoints of /api/v1 (gathered by `server/api.py`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys
from server.casework import caseload
from server.casework.keys import POLICIES
from server.casework.schemas import ContactOut
from server.clock import now
from server.endpoints import Endpoint
from server.errors import N_, Invalid
from server.forms import zone
from server.parsing import json_body, path_id
from server.records import dashboard, editing, exports
from server.records.facts import iso
from server.records.schemas import (
    ContactEditIn,
    ContactExportItem,
    ContactRecordOut,
    ContactVersionOut,
)
from server.staff.access import PRACTICE, allow
from server.staff.auth import signed_in
from server.store import audit
from server.store.models import Role

EXPORT_QUERY = (
    ("client", "A client's id; leave out for every client you may see"),
    ("from", "First day (2026-11-01, the organisation's time zone) or a time with a zone"),
    ("to", "Last day, included (2026-11-30), or a time with a zone (excluded)"),
    ("format", "csv (the default, also when empty) or json"),
)


@allow(*PRACTICE)
async def export(request: web.Request) -> web.StreamResponse:
    """Contacts and their records, by client and date range, streamed as CSV or JSON."""
    wanted = exports.parse_query(request.query, zone(request))
    return await exports.stream(request, signed_in(request), wanted)


@allow(*PRACTICE)
async def record(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        found = await editing.visible_record(db, signed_in(request), path_id(request))
        audit.record(db, request, "contact_record.view", "contact_record", found.id,
                     client_id=found.client_id)
    return web.json_response(ContactRecordOut.model_validate(found).model_dump(mode="json"))


@allow(*PRACTICE)
async def appointment_record(request: web.Request) -> web.Response:
    """The contact record of one appointment (a remote one that was held or missed)."""
    async with request.app[keys.DB].begin() as db:
        found = await editing.record_of_appointment(db, signed_in(request), path_id(request))
        audit.record(db, request, "contact_record.view", "contact_record", found.id,
                     client_id=found.client_id)
    return web.json_response(ContactRecordOut.model_validate(found).model_dump(mode="json"))


@allow(Role.PRACTITIONER)
async def open_records(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        rows = await caseload.open_records(db, signed_in(request))
        audit.record_each(db, request, "contact_record.list", "client",
                          [client.id for _record, client in rows])
    return web.json_response({"items": [
        ContactRecordOut.model_validate(r).model_dump(mode="json") for r, _client in rows]})


@allow(Role.PRACTITIONER)
async def contact_edit(request: web.Request) -> web.Response:
    data = await json_body(request, ContactEditIn)
    async with request.app[keys.DB].begin() as db:
        contact = await editing.visible_contact(db, signed_in(request), path_id(request))
        await editing.edit(db, request, signed_in(request), contact, outcome=data.outcome,
                           notes=data.notes, sensitive=data.sensitive, kind=data.kind)
    return web.json_response(ContactOut.model_validate(contact).model_dump(mode="json"))


@allow(*PRACTICE)
async def contact_history(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        contact = await editing.visible_contact(db, signed_in(request), path_id(request))
        versions = await editing.history(db, contact.id)
        audit.record(db, request, "contact.history", "contact", contact.id,
                     client_id=contact.client_id)
    return web.json_response({"items": [
        ContactVersionOut.model_validate(v).model_dump(mode="json") for v in versions]})


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "90")
    if raw not in {str(d) for d in dashboard.PERIODS}:
        raise Invalid(N_("Show the last 30, 90 or 365 days."),
                      errors=[{"field": "days", "message": "30, 90 or 365"}])
    return int(raw)


async def team_dashboard(request: web.Request) -> dashboard.Dashboard:
    days = _days(request)
    async with request.app[keys.DB].begin() as db:
        policy = await request.app[POLICIES].for_organisation(
            db, signed_in(request).organisation_id)
        board = await dashboard.build(db, signed_in(request), policy, now(), days)
        audit.record(db, request, "dashboard.view", "team", signed_in(request).team_id,
                     days=days, clients=len(board.clients))
    return board


def _figures(f: dashboard.Figures) -> dict[str, Any]:
    return {"name": f.label, "face_to_face": f.face_to_face, "remote": f.remote,
            "remote_percent": f.remote_percent, "failed_to_attend": f.failed_to_attend,
            "technical_failure": f.technical_failure, "other": f.other, "total": f.total,
            "rtt_ms": f.rtt_ms, "loss_percent": f.loss_percent}


@allow(Role.SUPERVISOR)
async def dashboard_json(request: web.Request) -> web.Response:
    board = await team_dashboard(request)
    clients = [dict(_figures(c), client_id=c.client.id if c.client else None,
                    practitioner=c.practitioner,
                    last_face_to_face_at=iso(c.last_face_to_face),
                    remote_now=c.policy.get("outcome"),
                    rules=[r["rule"] for r in c.policy.get("reasons", [])])
               for c in board.clients]
    return web.json_response({"days": board.days, "since": iso(board.since),
                              "team": _figures(board.team),
                              "practitioners": [_figures(f) for f in board.practitioners],
                              "clients": clients})


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/contact-records", export, "api-contact-records-export",
      "Export contacts and their records as CSV or JSON (streamed)", query=EXPORT_QUERY,
      response=ContactExportItem, listing=True, csv=True, tags=("records",)),
    E("GET", "/open-contact-records", open_records, "api-open-contact-records",
      "Your contact records still waiting for an outcome and notes",
      response=ContactRecordOut, listing=True, tags=("records",)),
    E("GET", "/contact-records/{id}", record, "api-contact-record",
      "One contact record: who joined and left when, modality, attendance, checklists, "
      "decisions, call quality", response=ContactRecordOut, tags=("records",)),
    E("GET", "/appointments/{id}/contact-record", appointment_record,
      "api-appointment-contact-record",
      "The contact record of an appointment (404 until the session ended or was missed)",
      response=ContactRecordOut, tags=("records",)),
    E("PUT", "/contacts/{id}", contact_edit, "api-contact-edit",
      "Set a contact's outcome and notes (the previous version is kept)",
      body=ContactEditIn, response=ContactOut, tags=("records",)),
    E("GET", "/contacts/{id}/history", contact_history, "api-contact-history",
      "The previous versions of a contact, newest first", response=ContactVersionOut,
      listing=True, tags=("records",)),
    E("GET", "/dashboard", dashboard_json, "api-dashboard",
      "Your team's contact mix, attendance, call quality and clients out of policy "
      "(supervisors)", query=(("days", "30, 90 (default) or 365"),),
      tags=("records",)),
)
