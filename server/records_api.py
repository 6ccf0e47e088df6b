"""The contact-record endpoints of /api/v1 (added to `server.api.ENDPOINTS`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from server import audit, exports, keys, records
from server.access import allow
from server.models import Role, User
from server.parsing import json_body, path_id
from server.record_schemas import ContactEditIn, ContactRecordOut, ContactVersionOut
from server.schemas import ContactOut

PRACTICE = (Role.PRACTITIONER, Role.SUPERVISOR)
EXPORT_QUERY = (
    ("client", "A client's id; leave out for every client you may see"),
    ("from", "First day (2026-11-01, the organisation's time zone) or a time with a zone"),
    ("to", "Last day, included (2026-11-30), or a time with a zone (excluded)"),
    ("format", "csv (default) or json"),
)


def _user(request: web.Request) -> User:
    user = request[keys.USER]
    assert user is not None, "only called behind a rule that requires a signed-in caller"
    return user


def zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[keys.SETTINGS].timezone)


@allow(*PRACTICE)
async def export(request: web.Request) -> web.StreamResponse:
    """Contacts and their records, by client and date range, streamed as CSV or JSON."""
    wanted = exports.parse_query(request.query, zone(request))
    return await exports.stream(request, _user(request), wanted)


@allow(*PRACTICE)
async def record(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        found = await records.visible_record(db, _user(request), path_id(request))
        audit.record(db, request, "contact_record.view", "contact_record", found.id,
                     client_id=found.client_id)
    return web.json_response(ContactRecordOut.model_validate(found).model_dump(mode="json"))


@allow(Role.PRACTITIONER)
async def open_records(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        rows = await records.open_records(db, _user(request))
    return web.json_response({"items": [
        ContactRecordOut.model_validate(r).model_dump(mode="json") for r, _client in rows]})


@allow(Role.PRACTITIONER)
async def contact_edit(request: web.Request) -> web.Response:
    data = await json_body(request, ContactEditIn)
    async with request.app[keys.DB].begin() as db:
        contact = await records.visible_contact(db, _user(request), path_id(request))
        await records.edit(db, request, _user(request), contact, outcome=data.outcome,
                           notes=data.notes, sensitive=data.sensitive, kind=data.kind)
    return web.json_response(ContactOut.model_validate(contact).model_dump(mode="json"))


@allow(*PRACTICE)
async def contact_history(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        contact = await records.visible_contact(db, _user(request), path_id(request))
        versions = await records.history(db, contact.id)
        audit.record(db, request, "contact.history", "contact", contact.id,
                     client_id=contact.client_id)
    return web.json_response({"items": [
        ContactVersionOut.model_validate(v).model_dump(mode="json") for v in versions]})


def endpoints() -> tuple[object, ...]:
    """The endpoint rows (built late: `server.api` defines `Endpoint` and imports us)."""
    from server.api import Endpoint as E

    return (
        E("GET", "/contact-records", export, "api-contact-records-export",
          "Export contacts and their records as CSV or JSON (streamed)", query=EXPORT_QUERY,
          csv=True, tags=("records",)),
        E("GET", "/open-contact-records", open_records, "api-open-contact-records",
          "Your contact records still waiting for an outcome and notes",
          response=ContactRecordOut, listing=True, tags=("records",)),
        E("GET", "/contact-records/{id}", record, "api-contact-record",
          "One contact record: who joined and left when, modality, attendance, checklists, "
          "decisions, call quality", response=ContactRecordOut, tags=("records",)),
        E("POST", "/contacts/{id}", contact_edit, "api-contact-edit",
          "Set a contact's outcome and notes (the previous version is kept)",
          body=ContactEditIn, response=ContactOut, tags=("records",)),
        E("GET", "/contacts/{id}/history", contact_history, "api-contact-history",
          "The previous versions of a contact, newest first", response=ContactVersionOut,
          listing=True, tags=("records",)),
    )
