"""Moving an appointment to a new time from a page (the diary, the client page): the same
checks, audit entry and change message as `PUT /api/v1/appointments/{id}/starts-at`, since
both call `contact_details.move`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys
from server.casework import contact_details
from server.casework.schemas import MoveIn
from server.errors import N_, AppError, Conflict, Invalid, NotFound
from server.forms import form_data, local_to_aware, zone
from server.parsing import path_id, validate
from server.render import render
from server.staff.access import allow
from server.staff.auth import signed_in
from server.store.models import Appointment, Client, Role, User

ROUTES = web.RouteTableDef()
# Where the form goes back to: only these two pages (never an address from the request).
BACK = ("diary", "client")


async def _own(request: web.Request, user: User) -> tuple[Appointment, Client]:
    """One of the caller's own appointments and its client; anything else is 'not found'."""
    async with request.app[keys.DB]() as db:
        appointment = await db.get(Appointment, path_id(request))
        if appointment is None or appointment.practitioner_id != user.id:
            raise NotFound(N_("No appointment with id {id} is yours to move."),
                           id=path_id(request))
        client = await db.get(Client, appointment.client_id)
    assert client is not None
    return appointment, client


def _back(raw: Any) -> str:
    return raw if raw in BACK else "client"


def _form(request: web.Request, appointment: Appointment, client: Client,
          values: dict[str, Any], error: AppError | None, status: int = 200) -> web.Response:
    return render(request, "appointment_move.html", status=status, appointment=appointment,
                  client=client, values=values, error=error, zone=zone(request),
                  cancelled=appointment.cancelled_at is not None)


@ROUTES.get("/appointments/{id}/move", name="appointment-move-form")
@allow(Role.PRACTITIONER)
async def move_form(request: web.Request) -> web.Response:
    """The new date and time, starting from the present one (or why it cannot move)."""
    appointment, client = await _own(request, signed_in(request))
    start = appointment.starts_at.astimezone(zone(request)).strftime("%Y-%m-%dT%H:%M")
    values = {"starts_at": start, "back": _back(request.query.get("back"))}
    if appointment.cancelled_at is not None:
        error = Conflict(N_("This appointment was cancelled; book a new one instead."))
        return _form(request, appointment, client, values, error, status=409)
    return _form(request, appointment, client, values, None)


@ROUTES.post("/appointments/{id}/move", name="appointment-move")
@allow(Role.PRACTITIONER)
async def move(request: web.Request) -> web.StreamResponse:
    """Move it; the client is sent the change, and reminders for the new time."""
    user = signed_in(request)
    values = await form_data(request)
    back = _back(values.get("back"))
    try:
        if not values.get("starts_at"):
            raise Invalid(N_("Enter the new date and time."),
                          errors=[{"field": "starts_at", "message": "not a date and time"}])
        data: dict[str, Any] = {"starts_at": values["starts_at"]}
        local_to_aware(request, data, "starts_at")
        parsed = validate(MoveIn, data)
        async with request.app[keys.DB].begin() as db:
            moved = await contact_details.move(db, request, user, path_id(request),
                                               parsed.starts_at)
    except (Invalid, Conflict) as error:
        appointment, client = await _own(request, user)
        return _form(request, appointment, client, {**values, "back": back}, error,
                     status=error.status)
    target = "/diary" if back == "diary" else f"/clients/{moved.client_id}"
    raise web.HTTPSeeOther(f"{target}?moved={moved.id}")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
