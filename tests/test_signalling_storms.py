"""Connect and disconnect storms (issue #17): thousands of connections closing, or coming
back, at once still leave every room's roster right, and the database pool is never
exhausted (the writes are batched and bounded: signalling/storms.py).

These drive the app's own room service and bus in-process, exactly as each connection's
`hello` and close do (tests/storm_rooms.py), without thousands of real sockets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from server.store.models import Participant, ParticipantEvent
from signalling.keys import BUS
from tests.storm_rooms import attach_all, disconnect, reconnect, seed_rooms


def _no_pool_trouble(caplog: Any) -> None:
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not problems, problems[:3]


async def test_a_mass_disconnect_of_2000_updates_every_remaining_roster(
        app, client, db, world, caplog):
    rooms = await seed_rooms(db, app[BUS].process, world.users["alice"].id, world.clients["a1"].id,
                             rooms=1000, size=3)
    await attach_all(app, rooms)
    leaving = [p for room in rooms for p in room.people[1:]]
    assert len(leaving) == 2000
    await asyncio.gather(*(disconnect(app, p, p.connection) for p in leaving))

    for room in rooms:
        practitioner = room.people[0]
        seen = practitioner.sees()
        assert seen[practitioner.member.participant_id] == ("admitted", True)
        for gone in room.people[1:]:
            assert seen[gone.member.participant_id] == ("admitted", False)
    async with db() as s:
        connected = await s.scalar(select(func.count()).select_from(Participant)
                                   .where(Participant.connection_id.is_not(None)))
        events = await s.scalar(select(func.count()).select_from(ParticipantEvent)
                                .where(ParticipantEvent.kind == "disconnected"))
    assert (connected, events) == (1000, 2000)
    _no_pool_trouble(caplog)


# 70-110 s on this loaded 2-core machine; the connects are written in batches
# (signalling/arrivals.py; docs/performance.md, "Signalling storms").
@pytest.mark.timeout(600)
async def test_a_storm_of_5000_reconnects_leaves_every_roster_right(
        app, client, db, world, caplog):
    rooms = await seed_rooms(db, app[BUS].process, world.users["alice"].id, world.clients["a1"].id,
                             rooms=2500, size=2)
    await attach_all(app, rooms)
    people = [p for room in rooms for p in room.people]
    assert len(people) == 2 * len(rooms)
    # A Wi-Fi blip: every old connection closes while its page reconnects, in any order.
    olds = {p.member.participant_id: p.connection for p in people}
    await asyncio.gather(
        *(disconnect(app, p, olds[p.member.participant_id]) for p in people),
        *(reconnect(app, p, app[BUS].connection_id()) for p in people))

    for room in rooms:
        everyone = {p.member.participant_id: ("admitted", True) for p in room.people}
        for person in room.people:
            assert person.sees() == everyone, (room.appointment_id, person.roster)
    async with db() as s:
        stale = await s.scalar(select(func.count()).select_from(Participant).where(
            Participant.connection_id.not_in([p.connection for p in people])))
    assert stale == 0
    _no_pool_trouble(caplog)
