"""What the casework endpoints and forms accept and return: clients, contacts,
appointments, decisions, the policy."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field, StrictBool

from server.schemas import AwareDatetime, Input, Output
from server.store.models import (
    AppointmentKind,
    ContactKind,
    ContactOutcome,
    RoshLevel,
)


class ContactIn(Input):
    kind: ContactKind
    happened_at: AwareDatetime
    outcome: ContactOutcome = ContactOutcome.ATTENDED
    notes: str = Field(default="", max_length=20_000)
    sensitive: StrictBool = False  # `0` or "yes" is refused, not read as false/true


class AppointmentIn(Input):
    kind: AppointmentKind
    starts_at: AwareDatetime
    duration_minutes: int = Field(default=30, ge=5, le=240)


class ClientOut(Output):
    id: int
    crn: str
    given_name: str
    family_name: str
    date_of_birth: date
    preferred_language: str
    interpreter_needed: bool
    interpreter_language: str | None
    rosh_level: RoshLevel
    mappa_level: int | None
    safeguarding_flags: list[str]
    practitioner_id: int
    phone: str | None = Field(default=None, description="mobile number, +44… or +…")
    email: str | None = None
    contact_preference: Literal["sms", "email"] | None = Field(
        default=None, description="how messages reach the client; null: no contact details")
    last_face_to_face_at: datetime | None = None


class ContactOut(Output):
    id: int
    client_id: int
    practitioner_id: int
    appointment_id: int | None
    kind: ContactKind
    happened_at: datetime
    outcome: ContactOutcome
    notes: str
    sensitive: bool
    created_at: datetime


class ReasonOut(Output):
    rule: str
    outcome: str
    title: str
    message: str
    remedy: str


class DecisionOut(Output):
    outcome: str = Field(description="allowed, needs_approval or blocked")
    policy_version: str
    reasons: list[ReasonOut]


class AppointmentOut(Output):
    id: int
    client_id: int
    practitioner_id: int
    kind: AppointmentKind
    starts_at: datetime
    duration_minutes: int
    cancelled_at: datetime | None
    decision: DecisionOut | None = Field(
        default=None, description="For a new remote appointment: whether the policy allows "
        "it as things stand, and why (checked again when links are made and at admission).")


class PolicyIn(Input):
    # The whole TOML text, as in policies/default.toml; `note` says why it changes.
    source: str = Field(min_length=1, max_length=65_536)
    note: str = Field(min_length=10, max_length=2000,
                      description="Why the policy changes (at least 10 characters, not "
                      "counting spaces at either end)")
    # Strip nothing from the text: line numbers in error messages must match what was sent.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class PolicyCheckIn(Input):
    source: str = Field(min_length=1, max_length=65_536)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class PolicyVersionOut(Output):
    id: int | None = Field(description="null for the shipped default, never stored")
    label: str = Field(description="the policy's `version`, recorded with every decision")
    sha256: str
    note: str
    created_at: datetime | None
    created_by: str | None
    restored_from_id: int | None = None
    current: bool


class PolicyOut(PolicyVersionOut):
    source: str


class PolicyCheckOut(Output):
    valid: bool
    label: str


class ContactDetailsIn(Input):
    """How the client is reached; an empty or missing field is removed from their record."""

    phone: str | None = Field(default=None, max_length=40,
                              description="a UK mobile (07…) or an international number (+…)")
    email: str | None = Field(default=None, max_length=320)
    contact_preference: Literal["sms", "email"] | None = Field(
        default=None, description="which to use; by default text message when there is a "
        "mobile number")


class MoveIn(Input):
    starts_at: AwareDatetime
