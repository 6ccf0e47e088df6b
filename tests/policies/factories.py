"""Builders for policy facts: a client, a history of contacts, a proposed session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policies import (
    Approval,
    ChecklistAnswer,
    ChecklistRole,
    ClientFacts,
    ContactFact,
    ContactKind,
    ContactOutcome,
    Facts,
    Policy,
    ProposedSession,
    RoshLevel,
    SafeguardingFlag,
    load_default_policy,
)

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
PRACTITIONER = 10
OTHER_PRACTITIONER = 11
SUPERVISOR = 20
CLIENT = 1
DEFAULT = load_default_policy()

F2F = ContactKind.FACE_TO_FACE
VIDEO = ContactKind.VIDEO
PHONE = ContactKind.PHONE
AUDIO = ContactKind.AUDIO


def client(*, rosh: RoshLevel = RoshLevel.MEDIUM, mappa: int | None = None,
           flags: tuple[SafeguardingFlag, ...] = (), youth: bool = False,
           practitioner: int = PRACTITIONER, allocated_at: datetime | None = None) -> ClientFacts:
    return ClientFacts(client_id=CLIENT, practitioner_id=practitioner, rosh_level=rosh,
                       mappa_level=mappa, safeguarding_flags=frozenset(flags), youth=youth,
                       allocated_at=allocated_at)


def contact(kind: ContactKind, days_ago: float, *, practitioner: int = PRACTITIONER,
            outcome: ContactOutcome = ContactOutcome.ATTENDED) -> ContactFact:
    return ContactFact(kind=kind, happened_at=NOW - timedelta(days=days_ago),
                       practitioner_id=practitioner, outcome=outcome)


def approval(*, granted_days_ago: float = 1, valid_days: float = 30, client_id: int = CLIENT,
             supervisor: int = SUPERVISOR, rationale: str = "Client works nights; reviewed.",
             revoked: bool = False) -> Approval:
    granted = NOW - timedelta(days=granted_days_ago)
    return Approval(client_id=client_id, supervisor_id=supervisor, rationale=rationale,
                    granted_at=granted, expires_at=granted + timedelta(days=valid_days),
                    revoked_at=NOW if revoked else None)


def all_safe(policy: Policy, *roles: ChecklistRole) -> tuple[ChecklistAnswer, ...]:
    return tuple(ChecklistAnswer(item.role, item.id, item.safe_answer)
                 for item in policy.checklists.items if item.role in roles)


def facts(*, who: ClientFacts | None = None, contacts: tuple[ContactFact, ...] = (),
          approvals: tuple[Approval, ...] = (), remote: bool = True,
          starts_in_days: float = 0, practitioner: int = PRACTITIONER, at_home: bool = False,
          interpreter: bool = False,
          answers: tuple[ChecklistAnswer, ...] | None = None) -> Facts:
    session = ProposedSession(remote=remote, starts_at=NOW + timedelta(days=starts_in_days),
                              practitioner_id=practitioner, practitioner_at_home=at_home,
                              with_interpreter=interpreter)
    return Facts(client=who or client(), session=session, now=NOW, contacts=contacts,
                 approvals=approvals, checklist_answers=answers)


# A settled history: in-person a week ago, mostly face to face.
SETTLED = (contact(F2F, 7), contact(F2F, 35), contact(VIDEO, 21), contact(F2F, 63))
