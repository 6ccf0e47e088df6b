"""The diary page (a practitioner's or supervisor's home) and its "waiting now" poll."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from aiohttp import web

from server import keys
from server.casework import caseload, decisions, diary
from server.casework.keys import POLICIES
from server.clock import now
from server.forms import zone
from server.i18n import gettext as _
from server.i18n import ngettext
from server.ports import Waiting
from server.render import render
from server.staff.access import PRACTICE, allow
from server.staff.auth import signed_in
from server.store import audit
from server.store.models import Role

ROUTES = web.RouteTableDef()
POLL_SECONDS = 5


def waiting_words(people: Sequence[Waiting], at: datetime, request: web.Request) -> list[str]:
    """One sentence per person waiting, in the current language, times in 24-hour local."""
    out = []
    for person in people:
        minutes = max(0, int((at - person.since).total_seconds() // 60))
        since = person.since.astimezone(zone(request)).strftime("%H:%M")
        who = _("The interpreter") if person.role == "interpreter" else _("The client")
        out.append(ngettext("%(who)s is waiting, since %(since)s (%(num)d minute)",
                            "%(who)s is waiting, since %(since)s (%(num)d minutes)",
                            minutes) % {"who": who, "since": since, "num": minutes})
    return out


def _words(waiting: Mapping[int, Sequence[Waiting]], at: datetime,
           request: web.Request) -> dict[str, list[str]]:
    return {str(k): waiting_words(v, at, request) for k, v in waiting.items()}


@ROUTES.get("/diary", name="diary")
@allow(*PRACTICE)
async def diary_page(request: web.Request) -> web.Response:
    """Today's and the week's appointments, in order, with who is waiting now."""
    user, at = signed_in(request), now()
    async with request.app[keys.DB].begin() as db:
        entries = await diary.diary(db, request.app[POLICIES], user, at, zone(request))
        # Contact records still waiting for the practitioner's outcome and notes.
        open_records = await caseload.open_records(db, user)
        shown = {e.client.id for e in entries} | {c.id for _r, c in open_records}
        audit.record(db, request, "diary.view", "diary", user.id, appointments=len(entries),
                     clients=len(shown))
        # Names and times were shown: each client's access log says so.
        audit.record_each(db, request, "diary.listed", "client", shown)
    watched = diary.watched([e.appointment for e in entries], at)
    waiting = await request.app[keys.LIVE_ROOMS].waiting(watched)
    start, _tomorrow, _end = diary.window(at, zone(request))
    days: dict[str, list[diary.Entry]] = {}
    for entry in entries:
        local = entry.appointment.starts_at.astimezone(zone(request))
        days.setdefault(local.strftime("%A %d %B"), []).append(entry)
    asked = request.query.get("moved", "")
    moved = next((e.appointment for e in entries
                  if asked.isdigit() and e.appointment.id == int(asked)), None)
    return render(request, "diary.html", days=days, zone=zone(request), now=at, moved=moved,
                  today=start.strftime("%A %d %B"), waiting=_words(waiting, at, request),
                  watched=watched, poll_seconds=POLL_SECONDS, to_say=decisions.to_say,
                  team=Role.SUPERVISOR in user.roles, open_records=open_records,
                  deliveries={e.appointment.id: e.delivery for e in entries if e.delivery})


@ROUTES.get("/diary/waiting", name="diary-waiting")
@allow(*PRACTICE)
async def diary_waiting(request: web.Request) -> web.Response:
    """Who is waiting now in today's remote appointments the caller may see (polled by the
    diary). Answers only appointment ids and the role of who waits: the names are already
    on the audited diary page."""
    user, at = signed_in(request), now()
    async with request.app[keys.DB]() as db:
        rows = await diary.appointments(db, user, at - timedelta(days=1),
                                        at + diary.WATCH_AHEAD + timedelta(minutes=1))
    watched = diary.watched([a for a, _c, _u in rows], at)
    waiting = await request.app[keys.LIVE_ROOMS].waiting(watched)
    return web.json_response({"at": at.astimezone(zone(request)).strftime("%H:%M"),
                              "waiting": _words(waiting, at, request)},
                             headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
