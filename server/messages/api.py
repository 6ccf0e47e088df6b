"""The messages endpoints of /api/v1 (admins): the outbox, reminder hours, the webhook."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.endpoints import Endpoint, json_out, list_out
from server.messages import admin
from server.messages.schemas import (
    OutboxMessageOut,
    RemindersIn,
    RemindersOut,
    WebhookIn,
    WebhookOut,
)
from server.parsing import json_body, path_id
from server.staff.access import allow
from server.staff.auth import signed_in
from server.store.models import Role

NONE = {"url": None, "active": False, "updated_at": None}


@allow(Role.ADMIN)
async def outbox(request: web.Request) -> web.Response:
    """The newest 100 messages of the organisation, optionally of one status."""
    async with request.app[keys.DB].begin() as db:
        rows = await admin.listing(db, request, signed_in(request),
                                   request.query.get("status") or None)
    return list_out(OutboxMessageOut, rows)


@allow(Role.ADMIN)
async def outbox_retry(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        row = await admin.retry(db, request, signed_in(request), path_id(request))
    return json_out(OutboxMessageOut, row)


@allow(Role.ADMIN)
async def reminders(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        hours = await admin.hours(db, signed_in(request))
    return json_out(RemindersOut, {"hours": hours})


@allow(Role.ADMIN)
async def reminders_set(request: web.Request) -> web.Response:
    data = await json_body(request, RemindersIn)
    async with request.app[keys.DB].begin() as db:
        hours = await admin.set_hours(db, request, signed_in(request), data.hours)
    return json_out(RemindersOut, {"hours": hours})


@allow(Role.ADMIN)
async def webhook(request: web.Request) -> web.Response:
    async with request.app[keys.DB]() as db:
        hook = await admin.webhook(db, signed_in(request))
    if hook is None:
        return json_out(WebhookOut, NONE)
    return json_out(WebhookOut, {"url": hook.url, "active": hook.active,
                                 "updated_at": hook.updated_at})


@allow(Role.ADMIN)
async def webhook_set(request: web.Request) -> web.Response:
    """Register or change the webhook; the answer shows the secret only when it was set."""
    data = await json_body(request, WebhookIn)
    async with request.app[keys.DB].begin() as db:
        hook, secret = await admin.set_webhook(db, request, signed_in(request), data)
    return json_out(WebhookOut, {"url": hook.url, "active": hook.active,
                                 "updated_at": hook.updated_at, "secret": secret})


@allow(Role.ADMIN)
async def webhook_rotate(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        hook, secret = await admin.rotate_secret(db, request, signed_in(request))
    return json_out(WebhookOut, {"url": hook.url, "active": hook.active,
                                 "updated_at": hook.updated_at, "secret": secret})


@allow(Role.ADMIN)
async def webhook_remove(request: web.Request) -> web.Response:
    async with request.app[keys.DB].begin() as db:
        await admin.remove_webhook(db, request, signed_in(request))
    return json_out(WebhookOut, NONE)


E = Endpoint
ENDPOINTS: tuple[Endpoint, ...] = (
    E("GET", "/outbox", outbox, "api-outbox",
      "The outbox: the newest messages and webhook pushes with their state (admins)",
      response=OutboxMessageOut, listing=True, tags=("messages",),
      query=(("status", "pending, sending, sent, delivered, bounced, failed, cancelled or "
                        "skipped"),)),
    E("POST", "/outbox/{id}/retry", outbox_retry, "api-outbox-retry",
      "Send a failed message again (admins)", response=OutboxMessageOut, tags=("messages",)),
    E("GET", "/organisation/reminders", reminders, "api-reminders",
      "Hours before a remote appointment when clients are reminded (admins)",
      response=RemindersOut, tags=("messages",)),
    E("PUT", "/organisation/reminders", reminders_set, "api-reminders-set",
      "Change the reminder hours (admins)", body=RemindersIn, response=RemindersOut,
      tags=("messages",)),
    E("GET", "/webhook", webhook, "api-webhook",
      "The case system's webhook (admins; the secret is never shown again)",
      response=WebhookOut, tags=("messages",)),
    E("PUT", "/webhook", webhook_set, "api-webhook-set",
      "Register or change the case system's webhook (admins)", body=WebhookIn,
      response=WebhookOut, tags=("messages",)),
    E("POST", "/webhook/rotate-secret", webhook_rotate, "api-webhook-rotate",
      "A new signing secret, shown once (admins)", response=WebhookOut, tags=("messages",)),
    E("DELETE", "/webhook", webhook_remove, "api-webhook-remove",
      "Stop pushing contact records (admins)", response=WebhookOut, tags=("messages",)),
)
