"""The facts a decision is made from: plain frozen values, built by the caller from the store.

Nothing here reads a clock, a file or a database. Every time is a timezone-aware datetime
(UTC by convention); a naive datetime is refused at construction, because comparing naive and
aware times silently gives wrong answers about "how many days ago".

The enumerations of clients and contacts are defined here, and the store (`server.models`)
uses these same classes: the policies package stays free of the ORM, with one vocabulary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class FactsError(ValueError):
    """Facts that cannot be decided on (for example a naive datetime)."""


class RoshLevel(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class ContactKind(enum.StrEnum):
    FACE_TO_FACE = "face_to_face"
    VIDEO = "video"
    AUDIO = "audio"
    PHONE = "phone"


REMOTE_KINDS = frozenset({ContactKind.VIDEO, ContactKind.AUDIO, ContactKind.PHONE})


class ContactOutcome(enum.StrEnum):
    ATTENDED = "attended"
    FAILED_TO_ATTEND = "failed_to_attend"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    TECHNICAL_FAILURE = "technical_failure"


class SafeguardingFlag(enum.StrEnum):
    DOMESTIC_ABUSE = "domestic_abuse"
    CHILD_PROTECTION = "child_protection"
    CHILD_IN_NEED = "child_in_need"
    SEXUAL_CONVICTION = "sexual_conviction"
    NATIONAL_SECURITY = "national_security"
    YOUTH_CASE = "youth_case"


class ChecklistRole(enum.StrEnum):
    """Who answers a checklist item."""

    CLIENT = "client"
    PRACTITIONER_PREMISES = "practitioner_premises"
    PRACTITIONER_HOME = "practitioner_home"
    INTERPRETER = "interpreter"


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise FactsError(f"{name} must be a timezone-aware datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What the case record says about the client."""

    client_id: int
    practitioner_id: int
    rosh_level: RoshLevel
    mappa_level: int | None = None
    safeguarding_flags: frozenset[SafeguardingFlag] = frozenset()
    youth: bool = False
    # When the current practitioner was allocated; used by in-person-first's
    # "with the current practitioner" option. None: count every contact with them.
    allocated_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.allocated_at, "allocated_at")
        if self.mappa_level is not None and self.mappa_level not in (1, 2, 3):
            raise FactsError(f"mappa_level must be 1, 2, 3 or None, got {self.mappa_level!r}")


@dataclass(frozen=True, slots=True)
class ContactFact:
    """One recorded contact. Only attended contacts count towards any rule."""

    kind: ContactKind
    happened_at: datetime
    practitioner_id: int
    outcome: ContactOutcome = ContactOutcome.ATTENDED

    def __post_init__(self) -> None:
        _aware(self.happened_at, "happened_at")

    @property
    def attended(self) -> bool:
        return self.outcome is ContactOutcome.ATTENDED

    @property
    def remote(self) -> bool:
        return self.kind in REMOTE_KINDS


@dataclass(frozen=True, slots=True)
class ProposedSession:
    """The session being booked or admitted."""

    remote: bool
    starts_at: datetime
    practitioner_id: int
    practitioner_at_home: bool = False
    with_interpreter: bool = False

    def __post_init__(self) -> None:
        _aware(self.starts_at, "starts_at")

    @property
    def checklist_roles(self) -> tuple[ChecklistRole, ...]:
        """The roles whose checklists must be answered before this session starts."""
        practitioner = (ChecklistRole.PRACTITIONER_HOME if self.practitioner_at_home
                        else ChecklistRole.PRACTITIONER_PREMISES)
        roles = (ChecklistRole.CLIENT, practitioner)
        return (*roles, ChecklistRole.INTERPRETER) if self.with_interpreter else roles


@dataclass(frozen=True, slots=True)
class Approval:
    """A supervisor's approval of remote contact for one client, with rationale and expiry."""

    client_id: int
    supervisor_id: int
    rationale: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.granted_at, "granted_at")
        _aware(self.expires_at, "expires_at")
        _aware(self.revoked_at, "revoked_at")


@dataclass(frozen=True, slots=True)
class ChecklistAnswer:
    """One person's answer to one checklist item (True = yes)."""

    role: ChecklistRole
    item_id: str
    answer: bool


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything `decide` needs, and nothing it has to fetch.

    `checklist_answers` is None while booking (checklists are not due yet); at admission it
    holds every answer given, and the checklists of `session.checklist_roles` are then required.
    """

    client: ClientFacts
    session: ProposedSession
    now: datetime
    contacts: tuple[ContactFact, ...] = ()
    approvals: tuple[Approval, ...] = ()
    checklist_answers: tuple[ChecklistAnswer, ...] | None = None

    def __post_init__(self) -> None:
        _aware(self.now, "now")
