"""Contact records pushed to the organisation's case system through the outbox.

Queued in the transaction that writes or edits the record, with the same item as the JSON
export (`exports.flat` and the summary), only while the organisation has an active webhook.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.outbox import queue
from server.records import exports
from server.store.models import Client, Contact, ContactRecord, Webhook


async def push(db: AsyncSession, contact: Contact, record: ContactRecord | None,
               event: str) -> None:
    """`event`: contact_record.completed (written when a session ends) or contact.updated."""
    client = await db.get(Client, contact.client_id)
    assert client is not None
    active = await db.scalar(select(Webhook.id).where(
        Webhook.organisation_id == client.organisation_id, Webhook.active.is_(True)))
    if active is None:
        return
    await db.flush()  # the contact's and record's values as they will commit
    item = exports.flat(contact, record, client.crn)
    if record is not None:
        item["summary"] = record.summary
    await queue.enqueue(db, organisation_id=client.organisation_id, kind="webhook",
                        channel="webhook", client_id=client.id,
                        contact_record_id=record.id if record else None,
                        payload={"event": event, "contact": item})
