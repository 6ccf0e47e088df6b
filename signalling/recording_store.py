"""The recording's rows in the database: the open request, its segments, ledger conversions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consent import ConsentEvent, ConsentKind, RecordingRequest
from consent.ledger import Wording
from server.joining.members import Member
from server.store.models import (
    CallSession,
    ConsentEventRow,
    Participant,
    ParticipantEvent,
    ParticipantState,
    Recording,
    RecordingState,
)

ACTIVE = (RecordingState.ASKING, RecordingState.RECORDING, RecordingState.PAUSED)


def to_event(row: ConsentEventRow) -> ConsentEvent:
    return ConsentEvent(seq=row.id, participant_id=row.participant_id,
                        call_session_id=row.call_session_id, request_id=row.recording_id,
                        purpose=row.purpose, kind=ConsentKind(row.kind),
                        wording=Wording(row.wording_version, row.language, row.wording_sha256),
                        at=row.at)


def to_request(row: Recording) -> RecordingRequest:
    return RecordingRequest(id=row.id, call_session_id=row.call_session_id, purpose=row.purpose,
                            wording_version=row.wording_version,
                            requested_by=row.requested_by_id, requested_at=row.requested_at)


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def close_segment(row: Recording, at: datetime) -> None:
    if row.segments and row.segments[-1].get("stopped") is None:
        row.segments = [*row.segments[:-1], {**row.segments[-1], "stopped": stamp(at)}]


async def active(db: AsyncSession, appointment_id: int) -> Recording | None:
    """The appointment's open recording request (asking, recording or paused), if any."""
    return await db.scalar(select(Recording).where(
        Recording.appointment_id == appointment_id, Recording.state.in_(ACTIVE))
        .order_by(Recording.id.desc()).limit(1))


async def asked_in(db_factory: async_sessionmaker[AsyncSession], appointment_ids: list[int]
                   ) -> set[int]:
    """The appointments, of these, with an open recording request (`active`), in one query."""
    async with db_factory() as db:
        return set(await db.scalars(select(Recording.appointment_id).where(
            Recording.appointment_id.in_(appointment_ids), Recording.state.in_(ACTIVE))))


def log(db: AsyncSession, member: Member, kind: str, at: datetime, session_id: int,
        **detail: Any) -> None:
    db.add(ParticipantEvent(appointment_id=member.appointment_id, call_session_id=session_id,
                            participant_id=member.participant_id, kind=kind, at=at,
                            detail=detail))


# Who hears the recording state: people in the room, waiting, or whose call just ended (never
# someone denied or removed).
TOLD = (ParticipantState.ADMITTED, ParticipantState.WAITING, ParticipantState.ENDED,
        ParticipantState.LEFT)


@dataclass(frozen=True)
class Facts:
    recording: Recording | None
    session_live: bool
    ledger: tuple[ConsentEvent, ...]
    present: frozenset[int]
    connected: tuple[int, ...]  # everyone connected (waiting people are told too)
    connections: dict[int, str]


async def read_facts(db_factory: async_sessionmaker[AsyncSession], appointment_id: int,
                     recording_id: int | None = None) -> Facts:
    """What the desk decides and tells from: the request, ledger, who is present."""
    async with db_factory() as db:
        row = (await db.get(Recording, recording_id) if recording_id is not None
               else await active(db, appointment_id))
        people = list(await db.scalars(select(Participant).where(
            Participant.appointment_id == appointment_id,
            Participant.connection_id.is_not(None))))
        ledger: tuple[ConsentEvent, ...] = ()
        live = False
        if row is not None:
            ledger = tuple(to_event(e) for e in await db.scalars(
                select(ConsentEventRow).where(ConsentEventRow.recording_id == row.id)))
            session = await db.get(CallSession, row.call_session_id)
            live = session is not None and session.ended_at is None
    present = frozenset(p.id for p in people if p.state is ParticipantState.ADMITTED)
    return Facts(row, live, ledger, present,
                 tuple(p.id for p in people if p.state in TOLD),
                 {p.id: p.connection_id or "" for p in people})
