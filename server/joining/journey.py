"""Where a person who joined by link is in their journey before the call, so that a page
reopened from the same link on the same device starts where they left it (docs/inclusion.md).

Steps: `privacy` (clients only) → `questions` → `check` → `wait`. The answers and the pre-call
check count from the end of the appointment's last session, as at admission: a session that
starts again asks again.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import (
    CallSession,
    ChecklistResponse,
    Participant,
    ParticipantRole,
    PrecallCheck,
)

STEPS = ("privacy", "questions", "check", "wait")


def step_of(role: ParticipantRole, answered: bool, checked: bool) -> str:
    """The first step not yet done."""
    if not answered:
        return "privacy" if role is ParticipantRole.CLIENT else "questions"
    return "wait" if checked else "check"


async def current_step(db: AsyncSession, person: Participant) -> str:
    """The step this person's page opens at, from what the store already holds."""
    ended = await db.scalar(select(func.max(CallSession.ended_at)).where(
        CallSession.appointment_id == person.appointment_id))
    since = ended or person.created_at
    answered = await db.scalar(select(ChecklistResponse.id).where(
        ChecklistResponse.participant_id == person.id,
        ChecklistResponse.answered_at >= since).limit(1))
    checked = await db.scalar(select(PrecallCheck.id).where(
        PrecallCheck.participant_id == person.id, PrecallCheck.reason.is_(None),
        PrecallCheck.created_at >= since).limit(1))
    return step_of(person.role, answered is not None, checked is not None)
