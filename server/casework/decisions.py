"""The store's side of the policy rules: facts read from the database, decisions written back.

`policies` decides and never reads anything; this module gathers the facts it needs (the
client, their contact history, the appointment, the answers to the safe-space checklists)
and keeps every decision with its rule ids, reasons and policy version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policies import (
    Approval,
    ChecklistAnswer,
    ChecklistRole,
    ClientFacts,
    ContactFact,
    Decision,
    Facts,
    ProposedSession,
    Reason,
    SafeguardingFlag,
    decide,
)
from server.i18n import gettext
from server.store.models import (
    Appointment,
    ApprovalRequest,
    ApprovalStatus,
    ChecklistResponse,
    Client,
    Contact,
    PolicyDecision,
)

if TYPE_CHECKING:
    from server.casework.policy_versions import PolicyStore


def _age(born: date, on: datetime) -> int:
    today = on.date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def client_facts(client: Client, now: datetime) -> ClientFacts:
    flags = frozenset(SafeguardingFlag(f) for f in client.safeguarding_flags
                      if f in SafeguardingFlag.__members__.values())
    return ClientFacts(
        client_id=client.id, practitioner_id=client.practitioner_id,
        rosh_level=client.rosh_level, mappa_level=client.mappa_level,
        safeguarding_flags=flags, youth=_age(client.date_of_birth, now) < 18,
    )


async def contact_facts(db: AsyncSession, client_id: int) -> tuple[ContactFact, ...]:
    rows = await db.scalars(select(Contact).where(Contact.client_id == client_id)
                            .order_by(Contact.happened_at))
    return tuple(ContactFact(kind=c.kind, happened_at=c.happened_at,
                             practitioner_id=c.practitioner_id, outcome=c.outcome)
                 for c in rows)


def answers_of(responses: Iterable[ChecklistResponse]) -> tuple[ChecklistAnswer, ...]:
    out: list[ChecklistAnswer] = []
    for response in responses:
        role = ChecklistRole(response.role)
        out.extend(ChecklistAnswer(role, item, bool(value))
                   for item, value in response.answers.items())
    return tuple(out)


async def facts_for(db: AsyncSession, appointment: Appointment, client: Client, now: datetime,
                    *, practitioner_at_home: bool = False, with_interpreter: bool = False,
                    checklists: Sequence[ChecklistResponse] | None = None) -> Facts:
    """Everything `policies.decide` needs for this appointment, read from the store."""
    session = ProposedSession(
        remote=True, starts_at=appointment.starts_at,
        practitioner_id=appointment.practitioner_id,
        practitioner_at_home=practitioner_at_home, with_interpreter=with_interpreter)
    return Facts(
        client=client_facts(client, now), session=session, now=now,
        contacts=await contact_facts(db, client.id),
        approvals=await approval_facts(db, client.id),
        checklist_answers=None if checklists is None else answers_of(checklists),
    )


async def approval_facts(db: AsyncSession, client_id: int) -> tuple[Approval, ...]:
    """Approved requests as the policy rules read them (the rules check expiry and who)."""
    rows = await db.scalars(select(ApprovalRequest).where(
        ApprovalRequest.client_id == client_id,
        ApprovalRequest.status == ApprovalStatus.APPROVED))
    return tuple(Approval(client_id=r.client_id, supervisor_id=r.decided_by_id or 0,
                          rationale=r.rationale, granted_at=r.decided_at or r.requested_at,
                          expires_at=r.expires_at or r.requested_at, revoked_at=r.revoked_at)
                 for r in rows)


def reason_out(reason: Reason) -> dict[str, Any]:
    """A reason translated into the current language, ready for a page or a message."""
    params = dict(reason.params)
    return {
        "rule": reason.rule_id,
        "outcome": reason.outcome.value,
        "title": gettext(reason.title),
        "message": gettext(reason.message).format(**params),
        "remedy": gettext(reason.remedy).format(**params),
    }


def record(db: AsyncSession, decision: Decision, *, point: str, client_id: int,
           appointment_id: int | None, now: datetime, actor_user_id: int | None = None,
           subject_participant_id: int | None = None) -> PolicyDecision:
    """Keep a decision (in English, with its parameters) in the caller's transaction."""
    row = PolicyDecision(
        appointment_id=appointment_id, client_id=client_id, point=point,
        outcome=decision.outcome.value, rule_ids=sorted(decision.rule_ids),
        reasons=[{"rule": r.rule_id, "outcome": r.outcome.value, "message": r.text(),
                  "params": dict(r.params)} for r in decision.reasons],
        policy_version=decision.policy_version, actor_user_id=actor_user_id,
        subject_participant_id=subject_participant_id, at=now)
    db.add(row)
    return row


async def decide_remote(db: AsyncSession, policies: PolicyStore, appointment: Appointment,
                        client: Client, at: datetime) -> Decision:
    """May this remote appointment go ahead, under the policy in force, before anyone's
    checklist is due?"""
    policy = await policies.for_client(db, client)
    return decide(await facts_for(db, appointment, client, at), policy)


def explain(decision: Decision) -> dict[str, Any]:
    """The decision as the API and pages show it, in the current language."""
    return {"outcome": decision.outcome.value, "policy_version": decision.policy_version,
            "reasons": [reason_out(r) for r in decision.reasons]}


def to_say(explained: dict[str, Any]) -> list[dict[str, Any]]:
    """The reasons a page should say: when a rule blocks, only the blocking ones (an approval
    cannot lift a block, so advice to ask for one would mislead); else every unmet rule."""
    unmet = [r for r in explained["reasons"] if r["outcome"] != "allowed"]
    blocking = [r for r in unmet if r["outcome"] == "blocked"]
    return blocking if explained["outcome"] == "blocked" else unmet
