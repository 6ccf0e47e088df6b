"""What the messages endpoints accept and return: the outbox, reminder hours, the webhook."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from server.schemas import Input, Output
from server.store.models import OutboxStatus


class OutboxMessageOut(Output):
    id: int
    kind: str = Field(description="booked, reminder, moved, cancelled, text or webhook")
    channel: str | None = Field(description="sms, email or webhook (null until composed)")
    status: OutboxStatus
    attempts: int
    due_at: datetime = Field(description="when it is (or was) next due to be tried")
    status_at: datetime
    sent_at: datetime | None
    client_id: int | None
    appointment_id: int | None
    contact_record_id: int | None
    last_error: str


class RemindersIn(Input):
    hours: list[int] = Field(max_length=4, description="hours before a remote appointment, "
                             "each 1 to 168; [] sends no reminders")


class RemindersOut(Output):
    hours: list[int]


class WebhookIn(Input):
    url: str = Field(min_length=8, max_length=2000,
                     description="https:// (http:// only to this machine, for testing)")
    secret: str | None = Field(default=None, min_length=32, max_length=200,
                               description="the signing key; Rapport makes one if omitted")
    active: bool = True


class WebhookOut(Output):
    url: str | None = Field(description="null: no webhook is registered")
    active: bool
    updated_at: datetime | None
    secret: str | None = Field(default=None, description="only in the answer that set it")
