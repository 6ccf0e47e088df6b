"""Turning a stored message into what a channel sends, at the moment it is sent.

Each kind has a composer. The outbox's own are here: `text` (written in full when queued, e.g.
a link a practitioner sends by hand) and `webhook` (a contact record for the case system,
sent to the organisation's webhook as it is configured now). Client messages about
appointments (`booked`, `reminder`, `moved`, `cancelled`) are composed by `server/messages/`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.outbox.channels import Outgoing
from server.store.models import OutboxMessage, Webhook

Compose = Callable[[AsyncSession, OutboxMessage], Awaitable[Outgoing]]


class Skip(Exception):  # noqa: N818 - reads as "raise Skip(why)"
    """Nothing to send this to (no contact details, no webhook, the appointment is gone)."""


async def text(db: AsyncSession, row: OutboxMessage) -> Outgoing:
    """A message written when it was queued; a join link is added only now."""
    p = row.payload
    words = str(p.get("text", "")).replace("{link}", str(p.get("link", "")))
    return Outgoing(channel=str(row.channel), to=str(row.recipient), text=words,
                    key=row.idempotency_key, subject=str(p.get("subject", "")))


def body_of(row: OutboxMessage) -> str:
    """The webhook's JSON body: the same bytes on every attempt."""
    return json.dumps({"event": row.payload.get("event"), "delivery": row.idempotency_key,
                       "contact": row.payload.get("contact")},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def webhook(db: AsyncSession, row: OutboxMessage) -> Outgoing:
    hook = await db.scalar(select(Webhook).where(
        Webhook.organisation_id == row.organisation_id))
    if hook is None or not hook.active:
        raise Skip("the organisation has no active webhook")
    row.recipient = hook.url
    return Outgoing(channel="webhook", to=hook.url, text=body_of(row),
                    key=row.idempotency_key, secret=hook.secret)


BUILT_IN: dict[str, Compose] = {"text": text, "webhook": webhook}
