"""Consent and recording (issue #5; docs/recording.md): the consent ledger and recordings."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime, enum_type


class RecordingState(enum.StrEnum):
    """A recording request's life: asking → recording ⇄ paused → stopped | failed."""

    ASKING = "asking"  # waiting for everyone present to answer
    RECORDING = "recording"
    PAUSED = "paused"  # someone present (a late joiner) has not said yes yet
    STOPPED = "stopped"  # declined, withdrawn, ended by the practitioner or the call's end
    FAILED = "failed"  # the recorder could not write


class ConsentEventRow(Base):
    """One entry of the append-only consent ledger: never updated, never deleted."""

    __tablename__ = "consent_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    call_session_id: Mapped[int] = mapped_column(ForeignKey("call_session.id"), index=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recording.id"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    wording_version: Mapped[str] = mapped_column(String(64))
    wording_sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Recording(Base):
    """A practitioner's request to record a session, and the encrypted file it produced."""

    __tablename__ = "recording"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    call_session_id: Mapped[int] = mapped_column(ForeignKey("call_session.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purpose: Mapped[str] = mapped_column(String(32))
    wording_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[RecordingState] = mapped_column(enum_type(RecordingState, "recording_state"))
    # [{"started": iso, "stopped": iso | null}, …]: the intervals media was written.
    segments: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_reason: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    # Relative to the recordings folder; one encrypted file per participant stream set.
    file_path: Mapped[str | None] = mapped_column(String(500))
    key_id: Mapped[str | None] = mapped_column(String(64))
    retention_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_reason: Mapped[str] = mapped_column(String(64), default="")

