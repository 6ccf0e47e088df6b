"""The store: SQLAlchemy 2 declarative models. Alembic migrations mirror these exactly."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The vocabulary of clients and contacts belongs to the policy rules, which must not
# depend on the ORM; the store uses the same enumerations.
from policies.facts import ContactKind as ContactKind
from policies.facts import ContactOutcome as ContactOutcome
from policies.facts import RoshLevel as RoshLevel
from policies.facts import SafeguardingFlag as SafeguardingFlag
from server.clock import UTC

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use server.clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    PRACTITIONER = "practitioner"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # Data protection officer: the access log and subject access exports, nothing else.
    # Separate from admin so that managing accounts never brings case content with it.
    DPO = "dpo"





class AppointmentKind(enum.StrEnum):
    IN_PERSON = "in_person"
    REMOTE = "remote"



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


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable and easy to extend in a migration.
    return Enum(kind, name=name, native_enum=False, length=32,
                values_callable=lambda k: [m.value for m in k])


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class User(Base):
    __tablename__ = "staff_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Space-separated Role values: an admin may also be a practitioner.
    roles_text: Mapped[str] = mapped_column("roles", String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in self.roles_text.split())

    @roles.setter
    def roles(self, value: frozenset[Role] | set[Role]) -> None:
        self.roles_text = " ".join(sorted(r.value for r in value))


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
    rosh_level: Mapped[RoshLevel] = mapped_column(_enum(RoshLevel, "rosh_level"))
    mappa_level: Mapped[int | None] = mapped_column(Integer)
    safeguarding_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
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
    kind: Mapped[ContactKind] = mapped_column(_enum(ContactKind, "contact_kind"))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[ContactOutcome] = mapped_column(_enum(ContactOutcome, "contact_outcome"))
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
    kind: Mapped[AppointmentKind] = mapped_column(_enum(AppointmentKind, "appointment_kind"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invitation(Base):
    """A link for one person to one appointment; only the token's SHA-256 is stored."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    role: Mapped[InvitationRole] = mapped_column(_enum(InvitationRole, "invitation_role"))
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
    role: Mapped[ParticipantRole] = mapped_column(_enum(ParticipantRole, "participant_role"))
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[ParticipantState] = mapped_column(
        _enum(ParticipantState, "participant_state"), default=ParticipantState.WAITING)
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
    complete: Mapped[bool] = mapped_column(Boolean)
    passed: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


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
    status: Mapped[ApprovalStatus] = mapped_column(_enum(ApprovalStatus, "approval_status"))
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


class StaffSession(Base):
    """A server-side login session; the cookie holds a random token, the row its hash."""

    __tablename__ = "staff_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(String(64), default="")


class ApiToken(Base):
    """A personal API token (Bearer); only its SHA-256 is stored, and it always expires."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed logins per key ("acct:…", "pair:…", "addr:…") in the current window."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Who did what to which personal data, when and why. Append-only and hash-chained.

    `seq`, `prev_hash` and `hash` are filled in at flush time by `server.audit`, under a
    lock on `AuditChainHead`; database triggers refuse UPDATE and DELETE (docs/security.md).
    """

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """One row: the last sequence number and hash of the audit chain.

    Appends lock it, so they are serialised; verification compares it with the last entry,
    so removing entries from the end of the log is detected too.
    """

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditPrunePermit(Base):
    """Present only inside the retention sweeper's transaction: lets the triggers allow
    deleting audit entries up to `upto_seq` (a prefix of the log) and nothing else."""

    __tablename__ = "audit_prune_permit"
    id: Mapped[int] = mapped_column(primary_key=True)
    upto_seq: Mapped[int] = mapped_column(BigInteger)


# --- contact records (issue 6) ----------------------------------------------------------------

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
        _enum(ContactOutcome, "record_attendance"))
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
    kind: Mapped[ContactKind] = mapped_column(_enum(ContactKind, "version_kind"))
    outcome: Mapped[ContactOutcome] = mapped_column(_enum(ContactOutcome, "version_outcome"))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notes: Mapped[str] = mapped_column(Text)
    sensitive: Mapped[bool] = mapped_column(Boolean)
    # Who made the edit that replaced these values, and when.
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replaced_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))


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


# --- consent and recording (issue #5; docs/recording.md) -----------------------------------


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
    state: Mapped[RecordingState] = mapped_column(_enum(RecordingState, "recording_state"))
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
