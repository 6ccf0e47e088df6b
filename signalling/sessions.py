"""A room's call sessions and history in the database: the live session, the event writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import CallSession, Participant, ParticipantEvent, ParticipantState

FINAL = frozenset({ParticipantState.DENIED, ParticipantState.REMOVED, ParticipantState.ENDED})
PRESENT = (ParticipantState.WAITING, ParticipantState.ADMITTED)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(db: AsyncSession, participant: Participant, kind: str, at: datetime,
          session_id: int | None, actor: int | None = None, **detail: Any
          ) -> ParticipantEvent:
    row = ParticipantEvent(appointment_id=participant.appointment_id,
                           call_session_id=session_id, participant_id=participant.id,
                           actor_id=actor, kind=kind, at=at, detail=detail)
    db.add(row)
    return row


async def live_session(db: AsyncSession, appointment_id: int) -> CallSession | None:
    return await db.scalar(
        select(CallSession).where(CallSession.appointment_id == appointment_id,
                                  CallSession.ended_at.is_(None))
        .order_by(CallSession.id.desc()).limit(1))
