"""The roster: what each person in a room may see of it, read from the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policies import ChecklistRole, Policy
from server.casework.policy_versions import PolicyStore
from server.ports import Waiting
from server.store.models import (
    ChecklistResponse,
    Participant,
    ParticipantEvent,
    ParticipantRole,
    ParticipantState,
)
from signalling.checklists import answers_since, check, latest_checklists
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
    async with db_factory() as db:
        people = list(await db.scalars(
            select(Participant).where(Participant.appointment_id == appointment_id,
                                      Participant.state.in_(PRESENT))
            .order_by(Participant.id)))
        checklists = await latest_checklists(
            db, appointment_id, await answers_since(db, appointment_id))
        # Every change writes an event, so the newest event id orders snapshots: a
        # connection drops a roster older than one it already has.
        version = await db.scalar(select(func.max(ParticipantEvent.id)).where(
            ParticipantEvent.appointment_id == appointment_id)) or 0
        policy = await policies.for_appointment(db, appointment_id)
        # Inclusion (#7), practitioner only; in the same session (one checkout per roster).
        precalls = await _precalls(db, appointment_id)
    full = [_entry(p, checklists.get(p.id), policy) for p in people]
    admitted = [{k: v for k, v in e.items() if k != "checklist"} for e in full
                if e["state"] == ParticipantState.ADMITTED.value]
    for entry in full:
        if entry["id"] in precalls:
            entry["precall"] = precalls[entry["id"]]
    return Snapshot(people, version, full, admitted)


async def _precalls(db: AsyncSession, appointment_id: int) -> dict[int, dict[str, Any]]:
    """Each person's latest pre-call check, for the practitioner's waiting list."""
    from server.joining.precall import latest_precalls

    return await latest_precalls(db, appointment_id)


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
