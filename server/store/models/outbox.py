"""Messages (issue 15): the durable outbox of messages to clients and pushes to case systems,
and each organisation's webhook."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime, enum_type


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its time, or for its next attempt
    SENDING = "sending"  # claimed by a worker under a lease
    SENT = "sent"  # the channel accepted it
    DELIVERED = "delivered"  # the provider says it reached the phone or mailbox
    BOUNCED = "bounced"  # the address does not exist or refused it
    FAILED = "failed"  # given up after the last attempt, or refused outright
    CANCELLED = "cancelled"  # no longer wanted (the appointment was cancelled or moved)
    SKIPPED = "skipped"  # nothing to send it to (no contact details, no webhook)


# Where a message stops: a worker never picks these up again.
FINAL = frozenset({OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.BOUNCED,
                   OutboxStatus.FAILED, OutboxStatus.CANCELLED, OutboxStatus.SKIPPED})


class OutboxMessage(Base):
    """One message to send, written in the transaction of the change that causes it."""

    __tablename__ = "outbox_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # booked | reminder | moved | cancelled | link | webhook | text
    kind: Mapped[str] = mapped_column(String(32))
    # sms | email | webhook (chosen when composed for a client's messages)
    channel: Mapped[str | None] = mapped_column(String(16))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    # No foreign key: retention deletes old records, and what was pushed stays listed.
    contact_record_id: Mapped[int | None] = mapped_column(Integer)
    recipient: Mapped[str | None] = mapped_column(String(2000))
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(enum_type(OutboxStatus, "outbox_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_id: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The same for every attempt: providers and receivers recognise a repeat by it.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_outbox_message_status_due", "status", "due_at"),)


class Webhook(Base):
    """Where an organisation's case system wants contact records pushed, and the shared secret."""

    __tablename__ = "webhook"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
