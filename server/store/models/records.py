"""Contact records (issue 6): what a remote appointment was, and the edit history of contacts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from policies.facts import ContactKind, ContactOutcome
from server.store.models.base import Base, UTCDateTime, enum_type


class ContactRecord(Base):
    """What the system knows about a remote appointment, written when its session ends.

    One per remote appointment, rebuilt from the stored events each time one of its sessions
    ends; it owns one `contact` row (kind, outcome, notes), which the policy rules count.
    """

    __tablename__ = "contact_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    call_session_id: Mapped[int | None] = mapped_column(ForeignKey("call_session.id"))
    # ended | everyone_left | abandoned | interrupted | not_held
    status: Mapped[str] = mapped_column(String(16))
    attendance: Mapped[ContactOutcome] = mapped_column(
        enum_type(ContactOutcome, "record_attendance"))
    # video | audio | none (nobody was in the call)
    modality: Mapped[str] = mapped_column(String(16))
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduled_end: Mapped[datetime] = mapped_column(UTCDateTime())
    actual_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actual_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    summary: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the practitioner has confirmed the outcome and notes; until then it is "open".
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))


class ContactVersion(Base):
    """The values a contact had before an edit replaced them: the edit history."""

    __tablename__ = "contact_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ContactKind] = mapped_column(enum_type(ContactKind, "version_kind"))
    outcome: Mapped[ContactOutcome] = mapped_column(enum_type(ContactOutcome, "version_outcome"))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notes: Mapped[str] = mapped_column(Text)
    sensitive: Mapped[bool] = mapped_column(Boolean)
    # Who made the edit that replaced these values, and when.
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replaced_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))

