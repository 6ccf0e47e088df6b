"""Calls: invitation links, sessions, participants and their events, checklists, call quality."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime, enum_type


class InvitationRole(enum.StrEnum):
    CLIENT = "client"
    INTERPRETER = "interpreter"


class ParticipantRole(enum.StrEnum):
    PRACTITIONER = "practitioner"
    CLIENT = "client"
    INTERPRETER = "interpreter"


class ParticipantState(enum.StrEnum):
    """Where a person stands in a room (see docs/signalling.md for the transitions)."""

    WAITING = "waiting"
    ADMITTED = "admitted"
    DENIED = "denied"
    LEFT = "left"
    REMOVED = "removed"
    ENDED = "ended"


class Invitation(Base):
    """A link for one person to one appointment; only the token's SHA-256 is stored."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    role: Mapped[InvitationRole] = mapped_column(enum_type(InvitationRole, "invitation_role"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    first_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when too many wrong dates of birth were entered; the link no longer works.
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when a client proved their date of birth (or an interpreter opened the link):
    # from then on the link is used up and only the participant cookie it gave works.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CallSession(Base):
    """One live video session of an appointment, from its start to its end."""

    __tablename__ = "call_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Participant(Base):
    """A person in an appointment's room: the practitioner, the client or an interpreter.

    Clients and interpreters are known by `secret_hash`, the SHA-256 of their participant
    cookie; staff by their user id. `connection_id` names the live WebSocket, if any.
    """

    __tablename__ = "participant"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    role: Mapped[ParticipantRole] = mapped_column(enum_type(ParticipantRole, "participant_role"))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[ParticipantState] = mapped_column(
        enum_type(ParticipantState, "participant_state"), default=ParticipantState.WAITING)
    state_since: Mapped[datetime] = mapped_column(UTCDateTime())
    connection_id: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    audio: Mapped[bool] = mapped_column(Boolean, default=True)
    video: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ParticipantEvent(Base):
    """Joined, admitted, denied, left, removed, reconnected, disconnected, ended … with its time.

    Written in the same transaction as the state change it records; the contact record is
    built from these.
    """

    __tablename__ = "participant_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    call_session_id: Mapped[int | None] = mapped_column(ForeignKey("call_session.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class ChecklistResponse(Base):
    """One person's safe-space answers before a session; the newest per participant counts."""

    __tablename__ = "checklist_response"
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, bool]] = mapped_column(JSON)
    # Each question as the person saw it (translated), by item id, and the language shown.
    questions: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    complete: Mapped[bool] = mapped_column(Boolean)
    passed: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CallQuality(Base):
    """One person's call-quality statistics in one session, aggregated as samples arrive."""

    __tablename__ = "call_quality"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_session_id: Mapped[int] = mapped_column(ForeignKey("call_session.id"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    rtt_samples: Mapped[int] = mapped_column(Integer, default=0)
    rtt_ms_sum: Mapped[int] = mapped_column(Integer, default=0)
    rtt_ms_max: Mapped[int] = mapped_column(Integer, default=0)
    packets_received: Mapped[int] = mapped_column(Integer, default=0)
    packets_lost: Mapped[int] = mapped_column(Integer, default=0)
    kbps_in_sum: Mapped[int] = mapped_column(Integer, default=0)
    kbps_out_sum: Mapped[int] = mapped_column(Integer, default=0)
    kbps_in_min: Mapped[int | None] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_call_quality_session_participant", "call_session_id",
                            "participant_id", unique=True),)


class PrecallCheck(Base):
    """The result of one pre-call check (camera, microphone, connection), kept with the
    session: the practitioner sees it in the waiting list. `verdict` is good, fair, weak,
    failed (no connection to the echo peer) or skipped."""

    __tablename__ = "precall_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    verdict: Mapped[str] = mapped_column(String(16))
    rtt_ms: Mapped[int | None] = mapped_column(Integer)
    loss_percent: Mapped[int | None] = mapped_column(Integer)
    bitrate_kbps: Mapped[int | None] = mapped_column(Integer)
    camera: Mapped[bool] = mapped_column(Boolean)
    microphone: Mapped[bool] = mapped_column(Boolean)
    # Set when the call page itself could not get going (server/failure.py): why, in a word.
    reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

