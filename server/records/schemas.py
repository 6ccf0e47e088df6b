"""What the contact-record endpoints accept and return (also their OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool

from server.schemas import Input, Output
from server.store.models import ContactKind, ContactOutcome


class ContactEditIn(Input):
    outcome: ContactOutcome
    notes: str = Field(default="", max_length=20_000)
    sensitive: StrictBool = Field(default=False, description="Not to be disclosed to the client in "
                            "a subject access request without review.")
    kind: ContactKind | None = Field(default=None, description="Change how the contact was "
                                     "held (a video session that switched to phone).")


class ContactVersionOut(Output):
    version: int
    kind: ContactKind
    outcome: ContactOutcome
    happened_at: datetime
    notes: str
    sensitive: bool
    replaced_at: datetime
    replaced_by_id: int


class ContactRecordOut(Output):
    id: int
    appointment_id: int
    contact_id: int
    client_id: int
    practitioner_id: int
    status: str = Field(description="ended, everyone_left, abandoned, interrupted or not_held")
    attendance: ContactOutcome
    modality: str = Field(description="video, audio or none")
    scheduled_start: datetime
    scheduled_end: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    reviewed_at: datetime | None
    summary: dict[str, Any] = Field(description="people, events, checklists, decisions, "
                                    "quality, recording; see docs/contact-records.md")


class ContactExportItem(Output):
    """One item of `GET /contact-records?format=json` (the CSV has the same columns, without
    `summary`). The record's fields are present only for a contact that has a record."""

    contact_id: int
    client_id: int
    crn: str
    practitioner_id: int
    appointment_id: int | None
    kind: ContactKind
    outcome: ContactOutcome
    happened_at: datetime
    notes: str
    sensitive: bool
    record_id: int | None = None
    status: str | None = Field(default=None, description="as ContactRecordOut.status")
    attendance: ContactOutcome | None = None
    modality: str | None = Field(default=None, description="video, audio or none")
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    actual_start: datetime | None = None
    actual_end: datetime | None = None
    reviewed_at: datetime | None = None
    client_joined_at: datetime | None = None
    client_left_at: datetime | None = None
    client_late_minutes: int | None = None
    client_dropped_connections: int | None = None
    rtt_ms_avg: float | None = None
    loss_percent: float | None = None
    kbps_in_avg: float | None = None
    summary: dict[str, Any] | None = Field(default=None, description=(
        "people, events, checklists, decisions, quality, recording; see "
        "docs/contact-records.md"))
