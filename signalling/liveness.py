"""Process liveness: participants of a process that is gone, and sessions nobody rejoined.

Every connection id names its process (`RoomBus.connection_id`), and every process holds a
lease (`signalling/lease.py` with Redis; with the in-process bus only this process counts).
Every few seconds each process looks at the connected participants in the database:

1. one whose connection's process holds no lease is disconnected (event "disconnected",
   reason "process gone") and their room is sent a new roster — they keep their state, so
   they come back admitted when their page reconnects to any process;
2. a live session with nobody connected whose people were cut off that way (or by a process
   that drained on SIGTERM, reason "process stopping"), and where
   nothing happened for `reconnect_grace_seconds`, is closed as interrupted and its contact
   record built. A session someone rejoined is never closed.

A second process starting beside the first disturbs nothing: the first's lease is alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.records.building import close_interrupted
from server.store.models import CallSession, Participant, ParticipantEvent
from signalling.bus import RoomBus, process_of
from signalling.sessions import GONE, STOPPING, clear_connection, event, live_session

log = logging.getLogger("rapport.signalling.liveness")

# Events after which a session counts as rejoined (the search for cut-off people stops).
BACK = frozenset({"joined", "reconnected", "started"})


def _gone(e: ParticipantEvent) -> bool:
    return e.kind == "disconnected" and e.detail.get("reason") in (GONE, STOPPING)


async def disconnect_lost(db: async_sessionmaker[AsyncSession], bus: RoomBus) -> set[int]:
    """Disconnect participants whose process holds no lease; returns their appointments."""
    async with db() as s:
        rows = (await s.execute(select(Participant.id, Participant.connection_id).where(
            Participant.connection_id.is_not(None)))).all()
    processes = {process_of(c or "") for _, c in rows}
    alive = await bus.alive(processes - {""})
    lost = [(pid, c) for pid, c in rows if process_of(c or "") not in alive]
    touched: set[int] = set()
    if not lost:
        return touched
    current = now()
    async with db.begin() as s:
        for participant_id, connection in lost:
            if not await clear_connection(s, participant_id, connection or ""):
                continue  # reconnected meanwhile
            person = await s.get(Participant, participant_id)
            assert person is not None
            session = await live_session(s, person.appointment_id)
            event(s, person, "disconnected", current, session.id if session else None,
                  reason=GONE, process=process_of(connection or ""))
            touched.add(person.appointment_id)
    return touched


async def _cut_off_since(s: AsyncSession, session: CallSession) -> datetime | None:
    """If people of this session were cut off by a lost process and nobody came back since:
    when anything was last heard from them (before the loss was noticed)."""
    newest: datetime | None = None
    cut = False
    events = await s.scalars(select(ParticipantEvent).where(
        ParticipantEvent.call_session_id == session.id)
        .order_by(ParticipantEvent.id.desc()).limit(200))
    for e in events:
        if e.kind in BACK and not cut:
            return None
        if _gone(e):
            cut = True
            continue
        if newest is None:
            newest = e.at
        if cut:
            break
    return (newest or session.started_at) if cut else None


async def close_unrejoined(db: async_sessionmaker[AsyncSession], grace: timedelta,
                           at: datetime) -> list[int]:
    """Close as interrupted the sessions cut off longer than `grace`; their appointments."""
    closed: list[int] = []
    async with db.begin() as s:
        connected = exists().where(Participant.appointment_id == CallSession.appointment_id,
                                   Participant.connection_id.is_not(None))
        # Nothing locked while looking (issue #17): in a reconnect storm every room is empty
        # for a moment, and locking their sessions held up every connect's event insert.
        # Only sessions quiet for the whole grace are read; the claim below re-checks that
        # nobody is connected, so a person reconnecting meanwhile keeps the session open.
        recent = exists().where(ParticipantEvent.call_session_id == CallSession.id,
                                ParticipantEvent.at > at - grace)
        for session in await s.scalars(select(CallSession).where(
                CallSession.ended_at.is_(None), ~connected, ~recent)):
            heard = await _cut_off_since(s, session)
            newest = await s.scalar(select(ParticipantEvent.at).where(
                ParticipantEvent.call_session_id == session.id)
                .order_by(ParticipantEvent.id.desc()).limit(1))
            if heard is None or (newest is not None and at - newest < grace):
                continue
            # Several processes watch: only the one whose update finds the session open closes.
            claimed = await s.execute(update(CallSession).where(
                CallSession.id == session.id, CallSession.ended_at.is_(None), ~connected)
                .values(ended_at=heard).execution_options(synchronize_session=False))
            assert isinstance(claimed, CursorResult)
            if not claimed.rowcount:
                continue
            await close_interrupted(s, session, heard, "server stopped")
            closed.append(session.appointment_id)
    return closed


class Watch:
    """The loop that runs both steps every third of the lease."""

    def __init__(self, db: async_sessionmaker[AsyncSession], bus: RoomBus,
                 roster: Callable[[int], Awaitable[None]],
                 ended: Iterable[Callable[[int], Awaitable[None]]],
                 every: float, grace: timedelta) -> None:
        self.db, self.bus, self.roster, self.ended = db, bus, roster, ended
        self.every, self.grace = every, grace
        self.passes = 0  # completed passes (tests wait on it)

    async def once(self) -> None:
        for appointment_id in sorted(await disconnect_lost(self.db, self.bus)):
            await self.roster(appointment_id)
        for appointment_id in await close_unrejoined(self.db, self.grace, now()):
            log.info("session of appointment %s closed as interrupted", appointment_id)
            for hook in tuple(self.ended):
                await hook(appointment_id)
        self.passes += 1

    async def run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:  # a bad pass must not stop the next one
                log.exception("liveness pass failed")
            await asyncio.sleep(self.every)
