"""The administrator's messages page (the outbox, reminder hours, the webhook), and the
wiring of the client messages' composer into the outbox."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from server import keys
from server.casework.keys import POLICIES
from server.errors import Invalid
from server.forms import form_data, zone
from server.messages import admin
from server.messages.compose import KINDS, ClientMessages
from server.messages.schemas import WebhookIn
from server.outbox.keys import COMPOSERS
from server.outbox.logchannel import mask
from server.parsing import path_id
from server.render import render
from server.staff.access import allow
from server.staff.auth import signed_in
from server.store.models import Role

ROUTES = web.RouteTableDef()


async def _page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    actor = signed_in(request)
    wanted = request.query.get("status") or None
    async with request.app[keys.DB].begin() as db:
        counts = await admin.counts(db, actor)
        try:
            rows = await admin.listing(db, request, actor, wanted)
        except Invalid:
            rows, wanted = await admin.listing(db, request, actor, None), None
        hours = await admin.hours(db, actor)
        hook = await admin.webhook(db, actor)
    context: dict[str, Any] = {"error": None, "secret": None, "saved": None, **extra}
    return render(request, "messages_admin.html", status=status, counts=counts, rows=rows,
                  wanted=wanted, hours=hours, hook=hook, zone=zone(request), mask=mask,
                  **context)


@ROUTES.get("/admin/messages", name="messages-admin")
@allow(Role.ADMIN)
async def messages_page(request: web.Request) -> web.Response:
    return await _page(request, saved=request.query.get("saved"))


@ROUTES.post("/admin/messages/reminders", name="messages-reminders")
@allow(Role.ADMIN)
async def reminders_save(request: web.Request) -> web.StreamResponse:
    raw = (await form_data(request)).get("hours", "")
    try:
        hours = [int(h) for h in raw.replace(" ", "").split(",") if h]
    except ValueError:
        hours = [0]  # refused below with the same message as a number out of range
    try:
        async with request.app[keys.DB].begin() as db:
            await admin.set_hours(db, request, signed_in(request), hours)
    except Invalid as error:
        return await _page(request, status=422, error=error)
    raise web.HTTPSeeOther("/admin/messages?saved=reminders")


@ROUTES.post("/admin/messages/webhook", name="messages-webhook")
@allow(Role.ADMIN)
async def webhook_save(request: web.Request) -> web.StreamResponse:
    values = await form_data(request)
    try:
        data = WebhookIn(url=values.get("url", ""), active=values.get("active") == "on")
    except ValidationError:
        data = WebhookIn(url="invalid://", active=False)  # refused with the message below
    try:
        async with request.app[keys.DB].begin() as db:
            _hook, secret = await admin.set_webhook(db, request, signed_in(request), data)
    except Invalid as error:
        return await _page(request, status=422, error=error)
    return await _page(request, secret=secret, saved="webhook")


@ROUTES.post("/admin/messages/webhook/rotate", name="messages-webhook-rotate")
@allow(Role.ADMIN)
async def webhook_rotate(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[keys.DB].begin() as db:
            _hook, secret = await admin.rotate_secret(db, request, signed_in(request))
    except Invalid as error:
        return await _page(request, status=422, error=error)
    return await _page(request, secret=secret, saved="webhook")


@ROUTES.post("/admin/messages/webhook/remove", name="messages-webhook-remove")
@allow(Role.ADMIN)
async def webhook_remove(request: web.Request) -> web.StreamResponse:
    async with request.app[keys.DB].begin() as db:
        await admin.remove_webhook(db, request, signed_in(request))
    raise web.HTTPSeeOther("/admin/messages?saved=removed")


@ROUTES.post("/admin/messages/{id}/retry", name="messages-retry")
@allow(Role.ADMIN)
async def retry(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[keys.DB].begin() as db:
            await admin.retry(db, request, signed_in(request), path_id(request))
    except Invalid as error:
        return await _page(request, status=422, error=error)
    raise web.HTTPSeeOther("/admin/messages?saved=retry")


def setup(app: web.Application) -> None:
    """The page's routes, and the composer of client messages for the outbox worker."""
    app.router.add_routes(ROUTES)
    composer = ClientMessages(app[keys.SETTINGS], app[keys.CATALOGUES], app[POLICIES])
    for kind in KINDS:
        app[COMPOSERS][kind] = composer
