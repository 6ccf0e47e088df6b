"""The page where a practitioner records how their client is reached."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.casework import caseload, contact_details
from server.casework.schemas import ContactDetailsIn
from server.errors import Invalid
from server.forms import form_data
from server.parsing import path_id, validate
from server.render import render
from server.staff.access import allow
from server.staff.auth import signed_in
from server.store.models import Role

ROUTES = web.RouteTableDef()


@ROUTES.get("/clients/{id}/contact-details", name="contact-details-form")
@allow(Role.PRACTITIONER)
async def contact_details_form(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        client = await caseload.get_client(db, signed_in(request), path_id(request))
    values = {"phone": client.phone or "", "email": client.email or "",
              "contact_preference": client.contact_preference or "sms"}
    return render(request, "contact_details_form.html", client=client, values=values,
                  error=None)


@ROUTES.post("/clients/{id}/contact-details", name="contact-details-save")
@allow(Role.PRACTITIONER)
async def contact_details_save(request: web.Request) -> web.StreamResponse:
    client_id = path_id(request)
    values = await form_data(request)
    try:
        data = validate(ContactDetailsIn, {
            "phone": values.get("phone") or None, "email": values.get("email") or None,
            "contact_preference": values.get("contact_preference") or None})
        async with request.app[keys.DB].begin() as db:
            await contact_details.set_contact_details(db, request, signed_in(request),
                                                      client_id, data)
    except Invalid as error:
        async with request.app[keys.DB]() as db:
            client = await caseload.get_client(db, signed_in(request), client_id)
        return render(request, "contact_details_form.html", status=422, client=client,
                      values=values, error=error)
    raise web.HTTPSeeOther(f"/clients/{client_id}?created=contact-details")


def setup(app: web.Application) -> None:
    app.router.add_routes(ROUTES)
