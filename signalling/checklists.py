"""The room's checklists: whose checklist a person answers, which answers count, checking them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from policies import ChecklistAnswer, ChecklistRole, Policy, check_checklist
from server.i18n import gettext
from server.store.models import CallSession, ChecklistResponse, ParticipantRole


def checklist_role(role: ParticipantRole, location: str | None) -> ChecklistRole:
    if role is ParticipantRole.CLIENT:
        return ChecklistRole.CLIENT
    if role is ParticipantRole.INTERPRETER:
        return ChecklistRole.INTERPRETER
    return (ChecklistRole.PRACTITIONER_HOME if location == "home"
            else ChecklistRole.PRACTITIONER_PREMISES)


def offer_for(policy: Policy, role: ParticipantRole, answered: bool) -> dict[str, Any] | None:
    """The checklist a person must answer under `policy`, worded in the current language."""
    if not policy.checklists.enabled:
        return None

    def items(of: ChecklistRole) -> list[dict[str, Any]]:
        return [{"id": i.id, "wording": gettext(i.wording), "blocking": i.blocking}
                for i in policy.checklists.for_role(of)]

    mine = checklist_role(role, None)
    offer: dict[str, Any] = {"role": mine.value, "items": items(mine), "answered": answered}
    if role is ParticipantRole.PRACTITIONER:
        offer["home_items"] = items(ChecklistRole.PRACTITIONER_HOME)
    return offer


async def answers_since(db: AsyncSession, appointment_id: int) -> datetime | None:
    """From when checklist answers count: the end of the appointment's last session, so
    answers given while waiting for the practitioner count, and a session that starts again
    (after the end, or a crash) asks again."""
    ended: datetime | None = await db.scalar(
        select(func.max(CallSession.ended_at)).where(CallSession.appointment_id == appointment_id))
    return ended


async def latest_checklists(db: AsyncSession, appointment_id: int,
                            since: datetime | None = None) -> dict[int, ChecklistResponse]:
    """The newest checklist response of each participant of the appointment."""
    query = (select(ChecklistResponse)
             .where(ChecklistResponse.appointment_id == appointment_id)
             .order_by(ChecklistResponse.id))
    if since is not None:
        query = query.where(ChecklistResponse.answered_at >= since)
    latest: dict[int, ChecklistResponse] = {}
    for row in await db.scalars(query):
        latest[row.participant_id] = row
    return latest


def check(role: ChecklistRole, answers: dict[str, bool], policy: Policy) -> Any:
    return check_checklist(role, [ChecklistAnswer(role, k, v) for k, v in answers.items()],
                           policy)


def shown_questions(policy: Policy, answers: dict[str, bool]) -> dict[str, str]:
    """Each answered question as the person saw it: the policy's wording in the language in
    force (kept with the answers, so the contact record shows what was asked)."""
    wording = {item.id: item.wording for item in policy.checklists.items}
    return {k: gettext(wording[k]) for k in answers if k in wording}
