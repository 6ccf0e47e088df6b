"""Data protection: the access log of a client, subject access exports, the clients' privacy
notice, and the refusal of every attempt to change the audit log through the app.

Only the data protection officer (`Role.DPO`) sees access logs and exports: they show case
content, which administrators do not see. Every view and export is itself audited.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server import keys
from server.errors import N_, Invalid, NotFound
from server.parsing import path_id
from server.privacy import retention, subject_access, words
from server.render import render
from server.settings import RETENTION_SETTINGS
from server.staff.access import Audience, allow, sensitive
from server.store import audit
from server.store.keys import USER
from server.store.models import AuditEvent, Client, Role, User

CRN = re.compile(r"^[A-Za-z0-9-]{1,20}$")
REFERENCE = re.compile(r"^[\w ./-]{1,100}$")
PAGE = 200  # access log entries per page

ROUTES = web.RouteTableDef()


def _user(request: web.Request) -> User:
    user = request[USER]
    assert user is not None, "only called behind a rule that requires a signed-in caller"
    return user


async def client_for_dpo(db: AsyncSession, user: User, client_id: int) -> Client:
    """A client of the officer's own organisation; anything else is 'not found'."""
    client = await db.get(Client, client_id)
    if client is None or client.organisation_id != user.organisation_id:
        raise NotFound(N_("There is no client with that number in your organisation."))
    return client


def _before(request: web.Request) -> int | None:
    raw = request.query.get("before")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Invalid(N_("'before' must be an entry's sequence number (a whole number)."))
    return int(raw)


def _reference(request: web.Request) -> str | None:
    raw = request.query.get("reference", "").strip()
    if raw and not REFERENCE.match(raw):
        raise Invalid(N_("The request reference may use letters, numbers, spaces and . / - "
                         "only, up to 100 characters."))
    return raw or None


async def access_log(db: AsyncSession, request: web.Request, client_id: int,
                     before: int | None) -> tuple[Client, list[tuple[AuditEvent, str | None]]]:
    """The newest entries about a client (older than `before`), with who made each; audited."""
    client = await client_for_dpo(db, _user(request), client_id)
    query = select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor_id) \
        .where(AuditEvent.client_id == client.id).order_by(AuditEvent.seq.desc()).limit(PAGE)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    entries: list[tuple[AuditEvent, str | None]] = [
        (e, name) for e, name in (await db.execute(query)).all()]
    audit.record(db, request, "access_log.view", "client", client.id, client_id=client.id,
                 entries=len(entries))
    return client, entries


def entry_out(entry: AuditEvent, actor_name: str | None) -> dict[str, Any]:
    return {"seq": entry.seq, "at": entry.at.isoformat(), "actor_id": entry.actor_id,
            "actor_name": actor_name, "action": entry.action, "target_type": entry.target_type,
            "target_id": entry.target_id, "address": entry.address, "detail": entry.detail}


# --- pages ---------------------------------------------------------------------------------

@ROUTES.get("/privacy", name="privacy")
@allow(Role.DPO)
async def privacy_home(request: web.Request) -> web.StreamResponse:
    """Find a client by case reference number."""
    crn = request.query.get("crn")
    if crn is None:
        return render(request, "privacy_home.html", crn="", error=None)
    crn = crn.strip().upper()
    error: Invalid | NotFound
    if not CRN.match(crn):
        error = Invalid(N_("A case reference number has letters, numbers and dashes only, "
                           "up to 20 characters."))
        return render(request, "privacy_home.html", status=422, crn=crn[:20], error=error)
    async with request.app[keys.DB]() as db:
        found = await db.scalar(select(Client.id).where(
            Client.crn == crn, Client.organisation_id == _user(request).organisation_id))
    if found is None:
        error = NotFound(N_("There is no client with that case reference number."))
        return render(request, "privacy_home.html", status=404, crn=crn, error=error)
    raise web.HTTPSeeOther(f"/privacy/clients/{found}")


@ROUTES.get("/privacy/clients/{id}", name="access-log")
@allow(Role.DPO)
async def access_log_page(request: web.Request) -> web.Response:
    before = _before(request)
    async with request.app[keys.DB].begin() as db:
        client, entries = await access_log(db, request, path_id(request), before)
    zone = ZoneInfo(request.app[keys.SETTINGS].timezone)
    return render(request, "access_log.html", client=client, entries=entries, zone=zone,
                  words=words,
                  older=entries[-1][0].seq if len(entries) == PAGE else None)


async def _export(request: web.Request, kind: str) -> web.StreamResponse:
    """Stream an export; it is audited (in its own transaction) before the first byte."""
    client_id, reference = path_id(request), _reference(request)
    maker = request.app[keys.DB]
    async with maker.begin() as db:
        client = await client_for_dpo(db, _user(request), client_id)
        audit.record(db, request, "subject_access.export", "client", client.id,
                     client_id=client.id, format=kind, reason=reference or "subject access")
    response = web.StreamResponse(headers=_stream_headers(request, kind, client.crn))
    await response.prepare(request)
    if request.method == "HEAD":  # headers only: a body here would corrupt the connection
        await response.write_eof()
        return response
    async with maker() as db:
        if kind == "json":
            await subject_access.write_json(db, client.id, response.write)
        else:
            zone = ZoneInfo(request.app[keys.SETTINGS].timezone)
            await subject_access.write_html(db, client.id, client.crn, response.write,
                                            reference, zone)
    await response.write_eof()
    return response


def _stream_headers(request: web.Request, kind: str, crn: str) -> dict[str, str]:

    disposition = "attachment" if kind == "json" else "inline"
    # The security headers and request id are added when the response is prepared.
    return {"Cache-Control": "no-store",
            "Content-Type": "application/json; charset=utf-8" if kind == "json"
            else "text/html; charset=utf-8",
            "Content-Disposition": f'{disposition}; filename="subject-access-{crn}.{kind}"'}


@ROUTES.get("/privacy/clients/{id}/export.json", name="export-json")
@allow(Role.DPO)
@sensitive()
async def export_json(request: web.Request) -> web.StreamResponse:
    return await _export(request, "json")


@ROUTES.get("/privacy/clients/{id}/export.html", name="export-html")
@allow(Role.DPO)
@sensitive()
async def export_html(request: web.Request) -> web.StreamResponse:
    return await _export(request, "html")


@ROUTES.get("/privacy/retention", name="retention")
@allow(Role.ADMIN, Role.DPO)
async def retention_page(request: web.Request) -> web.Response:
    """What the retention schedule would delete now (a dry run), with a button to run it."""
    settings = request.app[keys.SETTINGS]
    swept = await retention.sweep(request.app[keys.DB], settings, dry_run=True)
    async with request.app[keys.DB].begin() as db:
        audit.record(db, request, "retention.preview", "retention", None,
                     counts={s.kind: s.count for s in swept})
    return render(request, "retention.html", swept=swept, done=request.query.get("done"),
                  words=words, zone=ZoneInfo(settings.timezone),
                  days={name: getattr(settings, name) for name in RETENTION_SETTINGS})


@ROUTES.post("/privacy/retention", name="retention-run")
@allow(Role.ADMIN, Role.DPO)
async def retention_run(request: web.Request) -> web.StreamResponse:
    """Apply the schedule now; each deletion is audited, and so is who asked for it."""
    swept = await retention.sweep(request.app[keys.DB], request.app[keys.SETTINGS])
    async with request.app[keys.DB].begin() as db:
        audit.record(db, request, "retention.run", "retention", None,
                     counts={s.kind: s.count for s in swept})
    raise web.HTTPSeeOther(f"/privacy/retention?done={sum(s.count for s in swept)}")


@ROUTES.get("/privacy-notice", name="privacy-notice")
@allow(Audience.PUBLIC)
async def privacy_notice(request: web.Request) -> web.Response:
    """The clients' privacy notice as a page of its own (also shown before the checklist)."""
    settings = request.app[keys.SETTINGS]
    return render(request, "privacy_notice.html",
                  contact_years=round(settings.retention_contact_days / 365),
                  participant_days=settings.retention_participant_days,
                  audit_years=round(settings.retention_audit_days / 365))


# --- API -----------------------------------------------------------------------------------

@allow(Role.DPO)
async def api_access_log(request: web.Request) -> web.Response:
    before = _before(request)
    async with request.app[keys.DB].begin() as db:
        _client, entries = await access_log(db, request, path_id(request), before)
    return web.json_response({"items": [entry_out(e, name) for e, name in entries]})


@allow(Audience.STAFF)
async def api_audit_tamper(request: web.Request) -> web.Response:
    """DELETE or PATCH of an audit entry: always refused, and the attempt logged."""
    await audit.refuse_tamper(request, request.match_info["id"][:40], request.method)
    raise AssertionError("refuse_tamper always raises")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
