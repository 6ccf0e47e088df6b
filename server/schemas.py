"""What the API and forms accept and return: pydantic models, also the OpenAPI schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from server.store.models import (
    AppointmentKind,
    ContactKind,
    ContactOutcome,
    InvitationRole,
    Role,
    RoshLevel,
)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-11-22T14:30:00+00:00 or ...Z")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
# Deliberately simple: internal services use reserved domains (.local, .internal) that
# strict validators refuse, and the address is only ever a sign-in name here.
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactIn(Input):
    kind: ContactKind
    happened_at: AwareDatetime
    outcome: ContactOutcome = ContactOutcome.ATTENDED
    notes: str = Field(default="", max_length=20_000)
    sensitive: bool = False


class AppointmentIn(Input):
    kind: AppointmentKind
    starts_at: AwareDatetime
    duration_minutes: int = Field(default=30, ge=5, le=240)


class UserIn(Input):
    email: Email
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    # ids are 32-bit columns: a larger number would reach PostgreSQL and fail there.
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    password: str = Field(min_length=1, max_length=1024)


class TokenIn(Input):
    name: str = Field(min_length=1, max_length=100)
    days: int = Field(default=30, ge=1, le=365)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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


class UserOut(Output):
    id: int
    email: str
    name: str
    roles: list[Role]
    team_id: int | None
    active: bool


class TokenOut(Output):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is kept.")


class InvitationOut(Output):
    id: int
    role: InvitationRole
    valid_from: datetime
    valid_until: datetime


class SendIn(Input):
    channel: Literal["sms", "email"]
    to: str = Field(min_length=3, max_length=254,
                    description="A mobile number for SMS, an email address for email.")


class InvitationIn(Input):
    role: InvitationRole
    send: SendIn | None = Field(default=None, description="Also send the link at once.")


class InvitationCreated(InvitationOut):
    link: str = Field(description="Shown once; only the token's hash is kept.")
    sent: bool = False


class PolicyIn(Input):
    # The whole TOML text, as in policies/default.toml; `note` says why it changes.
    source: str = Field(min_length=1, max_length=65_536)
    note: str = Field(default="", max_length=2000)
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
class AccessEntryOut(Output):
    """One entry of a client's access log: who did what, when, from where, and why."""

    seq: int
    at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    target_type: str
    target_id: str | None
    address: str | None
    detail: dict[str, Any]
