"""The store: SQLAlchemy 2 declarative models. Alembic migrations mirror these exactly."""

from __future__ import annotations

# The vocabulary of clients and contacts belongs to the policy rules, which must not
# depend on the ORM; the store uses the same enumerations.
from policies.facts import ContactKind, ContactOutcome, RoshLevel, SafeguardingFlag
from server.store.models.audit import AuditChainHead, AuditEvent, AuditPrunePermit
from server.store.models.base import NAMING, Base, UTCDateTime, enum_type
from server.store.models.calls import (
    CallQuality,
    CallSession,
    ChecklistResponse,
    Invitation,
    InvitationRole,
    Participant,
    ParticipantEvent,
    ParticipantRole,
    ParticipantState,
    PrecallCheck,
)
from server.store.models.casework import (
    Appointment,
    AppointmentKind,
    ApprovalRequest,
    ApprovalStatus,
    Client,
    Contact,
    PolicyDecision,
    PolicyVersion,
)
from server.store.models.chat import ChatMessage
from server.store.models.factors import Passkey, RecoveryCode, TotpFactor, WebauthnChallenge
from server.store.models.outbox import FINAL, OutboxMessage, OutboxStatus, Webhook
from server.store.models.recording import ConsentEventRow, Recording, RecordingState
from server.store.models.records import ContactRecord, ContactVersion
from server.store.models.sso import SsoAttempt, SsoIdentity
from server.store.models.staff import (
    ApiToken,
    LoginThrottle,
    Organisation,
    Role,
    StaffSession,
    Team,
    TrustedDevice,
    User,
)

__all__ = [
    "FINAL",
    "NAMING",
    "Passkey",
    "RecoveryCode",
    "TotpFactor",
    "WebauthnChallenge",
    "ApiToken",
    "Appointment",
    "AppointmentKind",
    "ApprovalRequest",
    "ApprovalStatus",
    "AuditChainHead",
    "AuditEvent",
    "ChatMessage",
    "AuditPrunePermit",
    "Base",
    "CallQuality",
    "CallSession",
    "ChecklistResponse",
    "Client",
    "ConsentEventRow",
    "Contact",
    "ContactKind",
    "ContactOutcome",
    "ContactRecord",
    "ContactVersion",
    "Invitation",
    "InvitationRole",
    "LoginThrottle",
    "TrustedDevice",
    "Organisation",
    "OutboxMessage",
    "OutboxStatus",
    "Participant",
    "ParticipantEvent",
    "ParticipantRole",
    "ParticipantState",
    "PolicyDecision",
    "PolicyVersion",
    "PrecallCheck",
    "Recording",
    "RecordingState",
    "Role",
    "RoshLevel",
    "SafeguardingFlag",
    "SsoAttempt",
    "SsoIdentity",
    "StaffSession",
    "Team",
    "UTCDateTime",
    "User",
    "Webhook",
    "enum_type",
]
