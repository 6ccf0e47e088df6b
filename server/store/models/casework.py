"""Casework: clients, their contacts and appointments, approvals, policy decisions and versions."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from policies.facts import ContactKind, ContactOutcome, RoshLevel
from server.store.models.base import Base, UTCDateTime, enum_type
from server.store.models.staff import User


class AppointmentKind(enum.StrEnum):
    IN_PERSON = "in_person"
    REMOTE = "remote"


class Client(Base):
    __tablename__ = "client"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    crn: Mapped[str] = mapped_column(String(20), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    preferred_language: Mapped[str] = mapped_column(String(16), default="en")
    interpreter_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    interpreter_language: Mapped[str | None] = mapped_column(String(16))
    rosh_level: Mapped[RoshLevel] = mapped_column(enum_type(RoshLevel, "rosh_level"))
    mappa_level: Mapped[int | None] = mapped_column(Integer)
    safeguarding_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # How messages reach them (issue 15): a mobile number, an email address, and which to use.
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    contact_preference: Mapped[str | None] = mapped_column(String(8))  # sms | email
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    practitioner: Mapped[User] = relationship(lazy="raise")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Contact(Base):
    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    kind: Mapped[ContactKind] = mapped_column(enum_type(ContactKind, "contact_kind"))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[ContactOutcome] = mapped_column(enum_type(ContactOutcome, "contact_outcome"))
    notes: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))

    __table_args__ = (Index("ix_contact_client_time", "client_id", "happened_at"),)


class Appointment(Base):
    __tablename__ = "appointment"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    kind: Mapped[AppointmentKind] = mapped_column(enum_type(AppointmentKind, "appointment_kind"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class ApprovalRequest(Base):
    """A practitioner asks, a supervisor approves (with rationale and expiry) or refuses."""

    __tablename__ = "approval"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ApprovalStatus] = mapped_column(enum_type(ApprovalStatus, "approval_status"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rationale: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PolicyDecision(Base):
    """A decision of the policy rules, kept with its reasons and the policy version."""

    __tablename__ = "policy_decision"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    point: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    rule_ids: Mapped[list[str]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    policy_version: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    subject_participant_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PolicyVersion(Base):
    """One version of an organisation's policy, as the TOML text an admin saved.

    Append-only: the newest row of an organisation is the policy in force; going back to an
    older version stores it again as a new row, so the history reads as what happened.
    """

    __tablename__ = "policy_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))  # the file's `version`, kept with decisions
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)  # why it changed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    restored_from_id: Mapped[int | None] = mapped_column(ForeignKey("policy_version.id"))

