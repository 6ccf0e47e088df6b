"""The outbox table as a queue: enqueue in the caller's transaction, claim under a lease,
settle (sent, failed, skipped, retry later) only while still holding the lease.

A claim is one conditional UPDATE per row (pending and due, or sending with an expired lease),
so two workers — two processes, or one restarted after a crash — never hold the same message.
Settling checks the lease id: a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.store import audit
from server.store.models import OutboxMessage, OutboxStatus

# Never kept after the message is settled: a join link is a credential.
SECRET_KEYS = ("link",)


async def enqueue(db: AsyncSession, *, organisation_id: int, kind: str,
                  due_at: datetime | None = None, channel: str | None = None,
                  client_id: int | None = None, appointment_id: int | None = None,
                  contact_record_id: int | None = None, recipient: str | None = None,
                  payload: dict[str, Any] | None = None) -> OutboxMessage:
    """A message to send at `due_at` (now if not given), kept with the caller's transaction."""
    at = now()
    row = OutboxMessage(
        organisation_id=organisation_id, kind=kind, channel=channel, client_id=client_id,
        appointment_id=appointment_id, contact_record_id=contact_record_id,
        recipient=recipient, payload=dict(payload or {}), status=OutboxStatus.PENDING,
        attempts=0, due_at=due_at or at, idempotency_key=str(uuid.uuid4()), last_error="",
        created_at=at, status_at=at)
    db.add(row)
    await db.flush()
    audit.record(db, None, "message.queue", "outbox_message", row.id, client_id=client_id,
                 kind=kind, due_at=row.due_at.isoformat())
    return row


async def cancel_pending(db: AsyncSession, appointment_id: int, kinds: Sequence[str],
                         why: str) -> int:
    """Messages about an appointment that are no longer wanted (it was cancelled or moved)."""
    result = await db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.appointment_id == appointment_id,
               OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind.in_(kinds))
        .values(status=OutboxStatus.CANCELLED, last_error=why, status_at=now(),
                payload={}))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _due(at: datetime) -> Any:
    return or_(and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= at),
               and_(OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.lease_until < at))


async def claim(maker: async_sessionmaker[AsyncSession], *, lease_seconds: int,
                limit: int) -> list[tuple[int, str]]:
    """Take up to `limit` due messages; each comes with the lease id that owns it."""
    at = now()
    claimed: list[tuple[int, str]] = []
    async with maker.begin() as db:
        ids = (await db.scalars(select(OutboxMessage.id).where(_due(at))
                                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                                .limit(limit))).all()
        for message_id in ids:
            lease = str(uuid.uuid4())
            result = await db.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id, _due(at))
                .values(status=OutboxStatus.SENDING, lease_id=lease,
                        lease_until=at + timedelta(seconds=lease_seconds),
                        attempts=OutboxMessage.attempts + 1, status_at=at))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append((message_id, lease))
    return claimed


async def held(db: AsyncSession, message_id: int, lease: str) -> OutboxMessage | None:
    """The message, locked, if this lease still owns it."""
    row = await db.get(OutboxMessage, message_id, with_for_update=True,
                       populate_existing=True)
    if row is None or row.lease_id != lease or row.status is not OutboxStatus.SENDING:
        return None
    return row


def settle(db: AsyncSession, row: OutboxMessage, status: OutboxStatus, *, error: str = "",
           provider_id: str | None = None, via: str | None = None) -> None:
    """A final state (sent, failed, skipped): the lease and any secret are let go; audited."""
    at = now()
    row.status, row.status_at, row.last_error = status, at, error[:2000]
    row.lease_id, row.lease_until = None, None
    row.payload = {k: v for k, v in row.payload.items() if k not in SECRET_KEYS}
    if via is not None:
        row.payload = {**row.payload, "via": via}
    if status is OutboxStatus.SENT:
        row.sent_at, row.provider_id = at, provider_id
    audit.record(db, None, f"message.{status.value}", "outbox_message", row.id,
                 client_id=row.client_id, kind=row.kind, channel=row.channel,
                 attempts=row.attempts, error=error[:200])


def retry_later(db: AsyncSession, row: OutboxMessage, error: str, delay: timedelta) -> None:
    """Back to pending, due after `delay`; the attempt is audited with its error."""
    row.status, row.status_at, row.last_error = OutboxStatus.PENDING, now(), error[:2000]
    row.lease_id, row.lease_until, row.due_at = None, None, now() + delay
    audit.record(db, None, "message.retry", "outbox_message", row.id, client_id=row.client_id,
                 kind=row.kind, attempts=row.attempts, error=error[:200],
                 retry_in_seconds=int(delay.total_seconds()))


async def retry_now(db: AsyncSession, message_id: int) -> OutboxMessage | None:
    """An admin's "send again" for a failed message: pending, due now, attempts kept."""
    row = await db.get(OutboxMessage, message_id, with_for_update=True)
    if row is None or row.status not in (OutboxStatus.FAILED, OutboxStatus.BOUNCED):
        return None
    row.status, row.due_at, row.status_at = OutboxStatus.PENDING, now(), now()
    return row
