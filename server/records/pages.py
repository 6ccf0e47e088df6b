"""Contact records on the web: the contact page (record, outcome and notes, history), the
export page and download, and the supervisor's dashboard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from server import keys
from server.casework import caseload
from server.casework.keys import POLICIES
from server.clock import now
from server.errors import N_, Invalid, NotFound
from server.forms import zone
from server.i18n import gettext as _
from server.parsing import path_id, validate
from server.records import api as records_api
from server.records import building, dashboard, editing, exports
from server.records.keys import RECORD_SUMMARIES
from server.records.schemas import ContactEditIn
from server.render import render
from server.staff.access import allow
from server.store import audit
from server.store.keys import USER
from server.store.models import (
    ChatMessage,
    Contact,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    Role,
    User,
)

PRACTICE = (Role.PRACTITIONER, Role.SUPERVISOR)
RECORD_WAIT_TRIES, RECORD_WAIT_SECONDS = 20, 0.25  # the end screen's link: at most 5 s

ROUTES = web.RouteTableDef()


def _user(request: web.Request) -> User:
    user = request[USER]
    assert user is not None, "only called behind a rule that requires a signed-in caller"
    return user


LABELS = {
    "face_to_face": N_("face to face"), "video": N_("video"), "audio": N_("audio only"),
    "phone": N_("phone"),
    "attended": N_("attended"), "failed_to_attend": N_("failed to attend"),
    "rescheduled": N_("rescheduled"), "cancelled": N_("cancelled"),
    "technical_failure": N_("technical failure"),
    "practitioner": N_("practitioner"), "client": N_("client"), "interpreter": N_("interpreter"),
    "practitioner_premises": N_("practitioner (office)"),
    "practitioner_home": N_("practitioner (home)"),
    "modality_video": N_("video"), "modality_audio": N_("audio only"),
    "modality_none": N_("nobody was in the call with the client"),
    "status_ended": N_("the practitioner ended it"),
    "status_everyone_left": N_("everyone left"),
    "status_abandoned": N_("everyone's connection was lost and nobody came back"),
    "status_interrupted": N_("interrupted: Rapport stopped during the session"),
    "status_not_held": N_("no session was opened"),
}


def labels() -> dict[str, str]:
    """The words for stored values, in the current language."""
    return {key: _(text) for key, text in LABELS.items()}


def localiser(zone_info: ZoneInfo) -> Callable[..., str]:
    """Show a stored time (datetime or ISO text) in the organisation's time zone."""
    def local(value: datetime | str | None, time_only: bool = False,
              seconds: bool = False) -> str:
        if value is None:
            return "–"
        moment = (datetime.fromisoformat(value.replace("Z", "+00:00"))
                  if isinstance(value, str) else value).astimezone(zone_info)
        clock = "%H:%M:%S" if seconds else "%H:%M"
        return moment.strftime(clock if time_only else f"%d %b %Y, {clock}")
    return local


# --- one contact: the automatic record, outcome and notes, history ------------------------------

async def _contact_page(request: web.Request, contact_id: int, *, values: dict[str, Any]
                        | None = None, error: Invalid | None = None,
                        status: int = 200) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        contact = await editing.visible_contact(db, _user(request), contact_id)
        client = await caseload.get_client(db, _user(request), contact.client_id)
        record: ContactRecord | None = await editing.record_for(db, contact.id)
        versions = await editing.history(db, contact.id)
        # The session's text chat is part of the contact (#14), as it was written.
        chat = list(await db.scalars(select(ChatMessage).where(
            ChatMessage.appointment_id == record.appointment_id).order_by(ChatMessage.id))) \
            if record is not None else []
        names = await editing.staff_names(db, [v.replaced_by_id for v in versions])
        audit.record(db, request, "contact.view", "contact", contact.id, client_id=client.id)
        policy = await request.app[POLICIES].for_client(db, client)
    # Checklist answers as the person saw them: the question in words, their Yes or No.
    questions = {i.id: (_(i.wording), i.safe_answer) for i in policy.checklists.items}
    shown = values or {"outcome": contact.outcome.value, "notes": contact.notes,
                       "sensitive": contact.sensitive, "kind": contact.kind.value}
    kinds = [k for k in ContactKind if record is None or k is not ContactKind.FACE_TO_FACE]
    return render(request, "contact.html", status=status, contact=contact, client=client,
                  record=record, versions=versions, names=names, values=shown, error=error,
                  kinds=kinds, outcomes=list(ContactOutcome), labels=labels(),
                  local=localiser(zone(request)), saved=request.query.get("saved"),
                  questions=questions, chat=chat)


@ROUTES.get("/contacts/{id}", name="contact")
@allow(*PRACTICE)
async def contact_page(request: web.Request) -> web.Response:
    return await _contact_page(request, path_id(request))


@ROUTES.post("/contacts/{id}", name="contact-save")
@allow(Role.PRACTITIONER)
async def contact_save(request: web.Request) -> web.StreamResponse:
    contact_id = path_id(request)
    form = await request.post()
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    try:
        data = validate(ContactEditIn, dict(values, sensitive=values.get("sensitive") == "on"))
        async with request.app[keys.DB].begin() as db:
            contact: Contact = await editing.visible_contact(db, _user(request), contact_id)
            await editing.edit(db, request, _user(request), contact, outcome=data.outcome,
                               notes=data.notes, sensitive=data.sensitive, kind=data.kind)
    except Invalid as error:
        return await _contact_page(request, contact_id, values=values, error=error, status=422)
    raise web.HTTPSeeOther(f"/contacts/{contact_id}?saved=1")


@ROUTES.get("/appointments/{id}/record", name="appointment-record")
@allow(*PRACTICE)
async def appointment_record(request: web.Request) -> web.Response:
    """From the call page's end screen (#14): the session's contact page, with its outcome
    form (which saves to /contacts/{id}). The record is written as the session ends; a click
    that comes first waits for it."""
    appointment_id = path_id(request)
    for _attempt in range(RECORD_WAIT_TRIES):
        async with request.app[keys.DB]() as db:
            contact_id = await db.scalar(select(ContactRecord.contact_id).where(
                ContactRecord.appointment_id == appointment_id))
        if contact_id is not None:
            # The contact page's own rule applies: only a contact in the caller's caseload.
            return await _contact_page(request, contact_id)
        await asyncio.sleep(RECORD_WAIT_SECONDS)
    raise NotFound(N_("There is no contact record for this appointment yet: it is written when "
                      "the session ends. Reload this page in a moment."))


# --- exports ---------------------------------------------------------------------------------

@ROUTES.get("/exports", name="exports")
@allow(*PRACTICE)
async def exports_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        clients = list(await db.scalars(caseload.visible_clients(_user(request))))
    return render(request, "exports.html", clients=clients)


@ROUTES.get("/exports/contact-records", name="export-download")
@allow(*PRACTICE)
async def export_download(request: web.Request) -> web.StreamResponse:
    """The page's download: the same stream as the API's."""
    wanted = exports.parse_query(request.query, zone(request))
    return await exports.stream(request, _user(request), wanted)


# --- the supervisor's dashboard ------------------------------------------------------------

@ROUTES.get("/dashboard", name="dashboard")
@allow(Role.SUPERVISOR)
async def dashboard_page(request: web.Request) -> web.Response:
    board = await records_api.team_dashboard(request)
    names = {"face_to_face": _("face to face"), "remote": _("remote"),
             "failed_to_attend": _("failed to attend"),
             "technical_failure": _("technical failure"), "other": _("other outcomes")}
    charts = {
        "practitioners": dashboard.mix_chart(
            board.practitioners, names, _("Contacts by practitioner"),
            _("Bars split into attended face to face, attended remote, failed to attend, "
              "technical failure and other outcomes. The table below has the same figures."),
            _("contacts")),
        "clients": dashboard.mix_chart(
            board.clients, names, _("Contacts by client"),
            _("Bars split as above. The table below has the same figures."), _("contacts")),
        "quality": dashboard.bar_chart(
            [(f.label, f.rtt_ms) for f in board.practitioners],
            _("Average round-trip time by practitioner"),
            _("Longer bars mean slower connections. The table below has the same figures."),
            "ms"),
    }
    return render(request, "dashboard.html", board=board, charts=charts, names=names,
                  periods=dashboard.PERIODS, zone=zone(request), today=now())


def setup(app: web.Application) -> None:
    """The records' lifetime (crash recovery, sweeper) and their pages."""
    # Other features add their sections here before start-up ("recording").
    app[RECORD_SUMMARIES] = {}
    app.cleanup_ctx.append(building.records_ctx)
    app.router.add_routes(ROUTES)
