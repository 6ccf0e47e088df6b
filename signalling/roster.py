"""The roster: what each person in a room may see of it, read from the database."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policies import ChecklistRole, Policy
from server.casework.policy_versions import PolicyStore
from server.ports import Waiting
from server.store.models import (
    CallSession,
    ChecklistResponse,
    Participant,
    ParticipantEvent,
    ParticipantRole,
    ParticipantState,
)
from signalling.checklists import check
from signalling.sessions import PRESENT, iso


@dataclass(frozen=True)
class Snapshot:
    """A room as of its newest event: the people present and the two views of them."""

    people: list[Participant]
    version: int
    full: list[dict[str, Any]]  # the practitioner's view
    admitted: list[dict[str, Any]]  # what admitted people see: the admitted, no checklists


async def snapshot(db_factory: async_sessionmaker[AsyncSession], policies: PolicyStore,
                   appointment_id: int) -> Snapshot:
    """Read the room and build what the practitioner and the admitted people may see."""
    return (await snapshots(db_factory, policies, [appointment_id]))[appointment_id]


async def snapshots(db_factory: async_sessionmaker[AsyncSession], policies: PolicyStore,
                    appointment_ids: Collection[int]) -> dict[int, Snapshot]:
    """`snapshot` of each of these rooms, read together: the same six statements for one
    room or for hundreds (a storm's rosters, issue #17), in one session."""
    ids = set(appointment_ids)
    async with db_factory() as db:
        people = list(await db.scalars(
            select(Participant).where(Participant.appointment_id.in_(ids),
                                      Participant.state.in_(PRESENT))
            .order_by(Participant.id)))
        # Answers count from the end of each room's last session (signalling/checklists.py).
        since: dict[int, datetime | None] = dict((await db.execute(
            select(CallSession.appointment_id, func.max(CallSession.ended_at))
            .where(CallSession.appointment_id.in_(ids))
            .group_by(CallSession.appointment_id))).all())
        checklists: dict[int, dict[int, ChecklistResponse]] = {}
        for row in await db.scalars(select(ChecklistResponse).where(
                ChecklistResponse.appointment_id.in_(ids)).order_by(ChecklistResponse.id)):
            start = since.get(row.appointment_id)
            if start is None or row.answered_at >= start:
                checklists.setdefault(row.appointment_id, {})[row.participant_id] = row
        # Every change writes an event, so the newest event id orders snapshots: a
        # connection drops a roster older than one it already has.
        versions: dict[int, int] = dict((await db.execute(
            select(ParticipantEvent.appointment_id, func.max(ParticipantEvent.id))
            .where(ParticipantEvent.appointment_id.in_(ids))
            .group_by(ParticipantEvent.appointment_id))).all())
        policy = await policies.for_appointments(db, ids)
        # Inclusion (#7), practitioner only; in the same session (one checkout per roster).
        precalls = await _precalls(db, ids)
    by_room: dict[int, list[Participant]] = {room: [] for room in ids}
    for person in people:
        by_room[person.appointment_id].append(person)
    return {room: _snapshot(present, versions.get(room, 0), checklists.get(room, {}),
                            policy[room], precalls.get(room, {}))
            for room, present in by_room.items()}


def _snapshot(people: list[Participant], version: int,
              checklists: dict[int, ChecklistResponse], policy: Policy,
              precalls: dict[int, dict[str, Any]]) -> Snapshot:
    full = [_entry(p, checklists.get(p.id), policy) for p in people]
    admitted = [{k: v for k, v in e.items() if k != "checklist"} for e in full
                if e["state"] == ParticipantState.ADMITTED.value]
    for entry in full:
        if entry["id"] in precalls:
            entry["precall"] = precalls[entry["id"]]
    return Snapshot(people, version, full, admitted)


async def _precalls(db: AsyncSession, appointment_ids: Collection[int]
                    ) -> dict[int, dict[int, dict[str, Any]]]:
    """Each person's latest pre-call check, for the practitioner's waiting list."""
    from server.joining.precall import latest_precalls_of

    return await latest_precalls_of(db, appointment_ids)


def _entry(person: Participant, checklist: ChecklistResponse | None,
           policy: Policy) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": person.id, "role": person.role.value, "name": person.name,
        "state": person.state.value, "connected": person.connection_id is not None,
        "epoch": person.epoch, "media": {"audio": person.audio, "video": person.video},
    }
    if person.state is ParticipantState.WAITING:
        entry["waiting_since"] = iso(person.state_since)
    if person.role is not ParticipantRole.PRACTITIONER:
        entry["checklist"] = _checklist_state(checklist, policy)
    return entry


def _checklist_state(response: ChecklistResponse | None, policy: Policy) -> dict[str, Any]:
    if response is None:
        return {"complete": False, "passed": False, "failed": [], "advisory": [],
                "answers": {}}
    result = check(ChecklistRole(response.role), response.answers, policy)
    return {"complete": result.complete, "passed": result.passed,
            "failed": [i.id for i in result.failed_blocking],
            "advisory": [i.id for i in result.failed_advisory],
            "answers": dict(response.answers)}


async def waiting_now(db_factory: async_sessionmaker[AsyncSession],
                      appointment_ids: Sequence[int]) -> dict[int, list[Waiting]]:
    """Who is connected and waiting in each room, longest waiting first (for the diary)."""
    out: dict[int, list[Waiting]] = {}
    if not appointment_ids:
        return out
    async with db_factory() as db:
        people = await db.scalars(
            select(Participant).where(Participant.appointment_id.in_(appointment_ids),
                                      Participant.state == ParticipantState.WAITING,
                                      Participant.connection_id.is_not(None),
                                      Participant.role != ParticipantRole.PRACTITIONER)
            .order_by(Participant.state_since, Participant.id))
        for p in people:
            out.setdefault(p.appointment_id, []).append(
                Waiting(p.appointment_id, p.name, p.role.value, p.state_since))
    return out
