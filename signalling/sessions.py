"""A room's call sessions and history in the database: the live session, the event writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import CallSession, Participant, ParticipantEvent, ParticipantState

FINAL = frozenset({ParticipantState.DENIED, ParticipantState.REMOVED, ParticipantState.ENDED})
PRESENT = (ParticipantState.WAITING, ParticipantState.ADMITTED)
# Why a connection ended without its page saying so: its process is stopping (drained), or
# is gone (its lease expired). Either way the session waits for people to reconnect.
STOPPING = "process stopping"
GONE = "process gone"


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


async def clear_connection(db: AsyncSession, participant_id: int, connection: str) -> bool:
    """Mark the person disconnected if `connection` is still theirs: one conditional update,
    so a newer connection (on any process) committed meanwhile always wins."""
    result = await db.execute(update(Participant).where(
        Participant.id == participant_id, Participant.connection_id == connection)
        .values(connection_id=None).execution_options(synchronize_session=False))
    assert isinstance(result, CursorResult)
    return bool(result.rowcount)
