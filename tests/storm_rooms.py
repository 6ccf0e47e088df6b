"""Many live rooms at once, for connect and disconnect storms (tests and bench/storms.py).

`seed_rooms` writes rooms whose people are all admitted and connected in a live session
(multi-row inserts: thousands of rows in a second or two). `Room` people are attached to the
app's room bus with a callback that keeps the newest roster each person was sent, as their
connection does (an older roster than the last one applied is ignored).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.joining.members import Member
from server.store.models import (
    Appointment,
    AppointmentKind,
    CallSession,
    Participant,
    ParticipantRole,
    ParticipantState,
)
from signalling.keys import BUS, ROOMS


@dataclass
class Person:
    member: Member
    connection: str
    roster: dict[str, Any] | None = None  # the newest roster this person was sent

    async def deliver(self, message: dict[str, Any]) -> None:
        if message["type"] == "roster" and (
                self.roster is None or message["version"] >= self.roster["version"]):
            self.roster = message

    def sees(self) -> dict[int, tuple[str, bool]]:
        """Each person in the newest roster: their state and whether connected."""
        assert self.roster is not None, f"participant {self.member.participant_id}: no roster"
        return {p["id"]: (p["state"], p["connected"]) for p in self.roster["participants"]}


@dataclass
class Room:
    appointment_id: int
    people: list[Person] = field(default_factory=list)


async def seed_rooms(db: async_sessionmaker[AsyncSession], process: str, practitioner_id: int,
                     client_id: int, rooms: int, size: int) -> list[Room]:
    """`rooms` live rooms of `size` people each (a practitioner, then clients), all admitted
    and connected (connection "<process>.seed<appointment>n<n>": the liveness watch counts
    a connection of a process without a lease as gone)."""
    current = now()
    roles = [ParticipantRole.PRACTITIONER] + [ParticipantRole.CLIENT] * (size - 1)
    async with db.begin() as s:
        await s.execute(insert(Appointment), [
            {"client_id": client_id, "practitioner_id": practitioner_id,
             "kind": AppointmentKind.REMOTE, "starts_at": current, "duration_minutes": 30,
             "created_at": current} for _ in range(rooms)])
        ids = list(await s.scalars(select(Appointment.id).order_by(Appointment.id.desc())
                                   .limit(rooms)))[::-1]
        await s.execute(insert(CallSession), [
            {"appointment_id": a, "started_at": current, "started_by_id": practitioner_id}
            for a in ids])
        await s.execute(insert(Participant), [
            {"appointment_id": a, "user_id": practitioner_id if role is
             ParticipantRole.PRACTITIONER else None, "role": role,
             "name": f"{role.value} {a}.{n}", "verified": True,
             "state": ParticipantState.ADMITTED, "state_since": current, "epoch": 1,
             "audio": True, "video": True, "created_at": current,
             "connection_id": f"{process}.seed{a}n{n}",
             "expires_at": current + timedelta(hours=4)}
            for a in ids for n, role in enumerate(roles)])
        await s.flush()
        rows = (await s.execute(select(Participant.id, Participant.appointment_id,
                                       Participant.role, Participant.name,
                                       Participant.connection_id)
                                .where(Participant.appointment_id.in_(ids))
                                .order_by(Participant.id))).all()
    by_room = {a: Room(a) for a in ids}
    for pid, appointment_id, role, name, connection in rows:
        member = Member(pid, appointment_id, role, name,
                        practitioner_id if role is ParticipantRole.PRACTITIONER else None)
        by_room[appointment_id].people.append(Person(member, connection))
    return list(by_room.values())


async def attach_all(app: web.Application, rooms: list[Room]) -> None:
    bus = app[BUS]
    for room in rooms:
        for person in room.people:
            await bus.attach(room.appointment_id, person.member.participant_id,
                             person.connection, person.deliver)


async def reconnect(app: web.Application, person: Person, connection: str) -> float:
    """What a connection's `hello` does with the room (signalling/connection.py): connect,
    the checklist offer, attach, the roster to the room; the seconds until welcome."""
    rooms, bus = app[ROOMS], app[BUS]
    began = asyncio.get_running_loop().time()
    connected = await rooms.connect(person.member, connection, True)
    await rooms.checklist_offer(person.member, connected.answered, connected.policy)
    person.connection = connection
    await bus.attach(person.member.appointment_id, person.member.participant_id, connection,
                     person.deliver)
    welcomed = asyncio.get_running_loop().time() - began
    await rooms.roster(person.member.appointment_id)
    return welcomed


async def disconnect(app: web.Application, person: Person, connection: str) -> None:
    """What a closing connection does (signalling/connection.py `_cleanup`)."""
    await app[BUS].detach(person.member.appointment_id, person.member.participant_id,
                          connection)
    await app[ROOMS].disconnect(person.member, connection)
