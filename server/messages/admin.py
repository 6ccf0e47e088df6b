"""The administrator's side of messages: the outbox as it stands, the organisation's
reminder hours, and its case system's webhook. Admins see no message content."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.errors import N_, Invalid, NotFound
from server.i18n import gettext as _
from server.messages.schemas import WebhookIn
from server.outbox import queue
from server.outbox.appointments import reminder_hours
from server.store import audit
from server.store.models import Organisation, OutboxMessage, OutboxStatus, User, Webhook

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


async def counts(db: AsyncSession, actor: User) -> dict[str, int]:
    """Messages of the organisation by status."""
    rows = await db.execute(select(OutboxMessage.status, func.count())
                            .where(OutboxMessage.organisation_id == actor.organisation_id)
                            .group_by(OutboxMessage.status))
    found = {status.value: int(n) for status, n in rows.all()}
    return {status.value: found.get(status.value, 0) for status in OutboxStatus}


async def listing(db: AsyncSession, request: web.Request, actor: User,
                  status: str | None, limit: int = 100) -> Sequence[OutboxMessage]:
    """The newest messages (of one status if asked), audited as a view of the outbox."""
    if status is not None and status not in {s.value for s in OutboxStatus}:
        raise Invalid(N_("Unknown status {status}: use one of {known}."), status=status[:40],
                      known=", ".join(s.value for s in OutboxStatus),
                      errors=[{"field": "status", "message": _("unknown status")}])
    query = select(OutboxMessage).where(OutboxMessage.organisation_id == actor.organisation_id)
    if status is not None:
        query = query.where(OutboxMessage.status == OutboxStatus(status))
    rows = (await db.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit))).all()
    audit.record(db, request, "outbox.view", "outbox", actor.organisation_id,
                 status=status, shown=len(rows))
    return rows


async def retry(db: AsyncSession, request: web.Request, actor: User,
                message_id: int) -> OutboxMessage:
    row = await db.get(OutboxMessage, message_id)
    if row is None or row.organisation_id != actor.organisation_id:
        raise NotFound(N_("No message with id {id}."), id=message_id)
    if await queue.retry_now(db, message_id) is None:
        raise Invalid(N_("Only a failed or bounced message can be sent again."),
                      errors=[{"field": "id", "message": _("not failed")}])
    audit.record(db, request, "message.resend", "outbox_message", row.id,
                 client_id=row.client_id, kind=row.kind)
    return row


async def hours(db: AsyncSession, actor: User) -> list[int]:
    return list(reminder_hours(await db.get(Organisation, actor.organisation_id)))


async def set_hours(db: AsyncSession, request: web.Request, actor: User,
                    wanted: Sequence[int]) -> list[int]:
    """The organisation's reminder hours (for appointments booked or moved from now on)."""
    bad = [h for h in wanted if not 1 <= h <= 168]
    if bad:
        raise Invalid(N_("Reminder hours must each be between 1 and 168 (a week)."),
                      errors=[{"field": "hours", "message": _("between 1 and 168")}])
    org = await db.get(Organisation, actor.organisation_id)
    assert org is not None
    org.reminder_hours = sorted(set(wanted), reverse=True)
    audit.record(db, request, "organisation.reminders", "organisation", org.id,
                 hours=org.reminder_hours)
    return list(org.reminder_hours)


def _checked_url(url: str) -> str:
    parts = urlsplit(url.strip())
    local = parts.scheme == "http" and parts.hostname in LOOPBACK
    if not parts.hostname or (parts.scheme != "https" and not local):
        raise Invalid(N_("The webhook address must start with https:// (contact records are "
                         "personal data)."),
                      errors=[{"field": "url", "message": _("must start with https://")}])
    return url.strip()


async def webhook(db: AsyncSession, actor: User) -> Webhook | None:
    found: Webhook | None = await db.scalar(select(Webhook).where(
        Webhook.organisation_id == actor.organisation_id))
    return found


async def set_webhook(db: AsyncSession, request: web.Request, actor: User,
                      data: WebhookIn) -> tuple[Webhook, str | None]:
    """Register or change the webhook; returns it and the secret when one was (re)set."""
    url = _checked_url(data.url)
    hook = await webhook(db, actor)
    secret = data.secret or (secrets.token_urlsafe(32) if hook is None else None)
    if hook is None:
        hook = Webhook(organisation_id=actor.organisation_id, url=url, secret=secret or "",
                       active=data.active, updated_at=now(), updated_by_id=actor.id)
        db.add(hook)
    else:
        hook.url, hook.active, hook.updated_at, hook.updated_by_id = (
            url, data.active, now(), actor.id)
        if secret is not None:
            hook.secret = secret
    await db.flush()
    audit.record(db, request, "webhook.set", "webhook", hook.id, url=url, active=data.active,
                 secret_changed=secret is not None)
    return hook, secret


async def rotate_secret(db: AsyncSession, request: web.Request, actor: User) -> tuple[Webhook, str]:
    hook = await webhook(db, actor)
    if hook is None:
        raise Invalid(N_("No webhook is registered."),
                      errors=[{"field": "url", "message": _("no webhook")}])
    hook.secret, hook.updated_at, hook.updated_by_id = secrets.token_urlsafe(32), now(), actor.id
    audit.record(db, request, "webhook.rotate", "webhook", hook.id)
    return hook, hook.secret


async def remove_webhook(db: AsyncSession, request: web.Request, actor: User) -> None:
    """Stop pushing (queued pushes are skipped when their turn comes)."""
    hook = await webhook(db, actor)
    if hook is not None:
        audit.record(db, request, "webhook.remove", "webhook", hook.id)
        await db.delete(hook)
