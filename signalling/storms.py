"""Connect and disconnect storms: bounded, batched database work (issue #17).

After a Wi-Fi blip or a process restart every connection of a process closes, and reconnects,
at once. Done one by one, each closing connection held a pooled database connection for its
own transaction and then two more for its room's roster: a few thousand of them queued on the
pool past its timeout ("QueuePool limit ... reached") and their rosters were never sent. Here:

- `Gate`: the signalling work that storms (connecting, reading rosters) waits its turn in the
  event loop, which has no timeout, instead of in the pool, which has one; the gates together
  stay below the pool's size so the rest of the application still gets connections.
- `Rosters`: a room's roster is read once for all who asked while it waited its turn, so a
  room whose people all reconnect reads its roster a few times, not once per person. Every
  caller still gets a roster read after its call, so no change goes unannounced.
- `Departures`: one small writer records disconnections in batches: one multi-row UPDATE
  (only where the connection is still the person's), one multi-row INSERT of the events, then
  one roster per room touched.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.store.models import CallSession, Participant, ParticipantEvent
from signalling.sessions import STOPPING

log = logging.getLogger("rapport.signalling.storms")
K = TypeVar("K")
V = TypeVar("V")

CONNECT_SLOTS = 6  # connections' own transactions at once
ROSTER_SLOTS = 2  # roster rounds being read at once (each reads with one session)
ROSTER_BATCH = 500  # rooms per roster round
DECIDE_SLOTS = 2  # the recording desk's re-decisions after rosters (never ahead of welcomes)
BATCH = 500  # disconnections per transaction


class Gate(asyncio.Semaphore):
    """At most `slots` holders at once; the others wait in the event loop."""


class Rosters:
    """Coalesced, batched roster rounds: the rooms waiting are read together."""

    def __init__(self, send: Callable[[list[int]], Awaitable[None]],
                 after: Callable[[int], Awaitable[None]], slots: int = ROSTER_SLOTS,
                 batch: int = ROSTER_BATCH) -> None:
        self.send = send  # reads the rooms and tells everyone (Rooms._rosters_now)
        self.after = after  # then, if a caller asked, the recording desk re-decides
        self.slots, self.batch, self.readers = slots, batch, 0
        self.waiting: dict[int, tuple[asyncio.Future[None], list[bool]]] = {}
        self.deciding: set[asyncio.Task[None]] = set()

    async def __call__(self, appointment_id: int, decide: bool) -> None:
        """Return once a roster read after this call has been sent to the room."""
        pending = self.waiting.get(appointment_id)
        if pending is None:
            pending = (asyncio.get_running_loop().create_future(), [decide])
            self.waiting[appointment_id] = pending
            if self.readers < self.slots:
                self.readers += 1
                asyncio.get_running_loop().create_task(self._read_all())
        elif decide:
            pending[1][0] = True
        await asyncio.shield(pending[0])

    async def _read_all(self) -> None:
        try:
            while self.waiting:
                rooms = _next_batch(self.waiting, self.batch)
                try:
                    await self.send(list(rooms))
                except Exception as exc:
                    _fail_all((done for done, _ in rooms.values()), exc)
                    continue
                deciding = {room: done for room, (done, flags) in rooms.items() if flags[0]}
                for room, (done, _) in rooms.items():
                    if room not in deciding:
                        done.set_result(None)
                if deciding:  # the desk's own work never holds up the next rosters
                    task = asyncio.get_running_loop().create_task(self._decide(deciding))
                    self.deciding.add(task)
                    task.add_done_callback(self.deciding.discard)
        finally:
            self.readers -= 1

    def follow(self, work: Awaitable[None]) -> None:
        """Run `work` (the desk's re-decision and what must wait for it) in a task of its
        own, so the caller's socket goes on reading; a failure is logged, never lost."""
        task = asyncio.ensure_future(work)
        self.deciding.add(task)
        task.add_done_callback(_followed)
        task.add_done_callback(self.deciding.discard)

    async def _decide(self, rooms: dict[int, asyncio.Future[None]]) -> None:
        outcomes = await asyncio.gather(*(self.after(room) for room in rooms),
                                        return_exceptions=True)
        for done, outcome in zip(rooms.values(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _fail_all([done], outcome)
            else:
                done.set_result(None)


def _followed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("after a roster", exc_info=task.exception())


class Lookup:
    """A yes-or-no question about a room, asked of many rooms at once (the recording desk's
    "is anything asked here?" after every roster): the rooms asking while a reading is under
    way are read together in the next, one statement for all of them."""

    def __init__(self, read: Callable[[list[int]], Awaitable[set[int]]],
                 batch: int = ROSTER_BATCH) -> None:
        self.read = read  # the rooms, of those given, where the answer is yes
        self.batch = batch
        self.waiting: dict[int, asyncio.Future[bool]] = {}
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, appointment_id: int) -> bool:
        """Answered by a reading begun after this call."""
        pending = self.waiting.get(appointment_id)
        if pending is None:
            pending = self.waiting[appointment_id] = asyncio.get_running_loop().create_future()
            if self.task is None:
                self.task = asyncio.get_running_loop().create_task(self._read_all())
        return await asyncio.shield(pending)

    async def _read_all(self) -> None:
        try:
            while self.waiting:
                rooms = _next_batch(self.waiting, self.batch)
                try:
                    yes = await self.read(list(rooms))
                except Exception as exc:
                    _fail_all(rooms.values(), exc)
                    continue
                for room, done in rooms.items():
                    done.set_result(room in yes)
        finally:
            self.task = None


def _next_batch(waiting: dict[K, V], batch: int) -> dict[K, V]:
    """The oldest `batch` of those waiting, taken off the list: from here a new caller
    starts the next round (this one may read before its change)."""
    taken = dict(itertools.islice(waiting.items(), batch))
    for key in taken:
        del waiting[key]
    return taken


def _fail_all(futures: Iterable[asyncio.Future[Any]], exc: BaseException) -> None:
    for done in futures:
        done.set_exception(exc)
        done.exception()  # retrieved here: callers that went away do not warn


@dataclass(slots=True)
class _Leaving:
    participant_id: int
    appointment_id: int
    connection: str
    drained: bool
    done: asyncio.Future[None]


class Departures:
    """The writer of disconnections: batched, one at a time, rosters after each batch."""

    def __init__(self, db: async_sessionmaker[AsyncSession],
                 roster: Callable[[int], Awaitable[None]], batch: int = BATCH) -> None:
        self.db = db
        self.roster = roster
        self.batch = batch
        self.queue: list[_Leaving] = []
        self.task: asyncio.Task[None] | None = None
        self.telling: set[asyncio.Task[None]] = set()

    async def record(self, participant_id: int, appointment_id: int, connection: str,
                     drained: bool) -> None:
        """Record that this connection closed (if it is still the person's) and tell the
        room; returns once both are done."""
        done = asyncio.get_running_loop().create_future()
        self.queue.append(_Leaving(participant_id, appointment_id, connection, drained, done))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._write_all())
        await asyncio.shield(done)

    async def _write_all(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[:self.batch], self.queue[self.batch:]
                try:
                    rooms = await self._write(batch)
                except Exception as exc:
                    log.exception("could not record %s disconnections", len(batch))
                    _fail_all((item.done for item in batch), exc)
                    continue
                # The next batch is written while this one's rooms are told.
                telling = asyncio.get_running_loop().create_task(self._tell(rooms, batch))
                self.telling.add(telling)
                telling.add_done_callback(self.telling.discard)
        finally:
            self.task = None

    async def _tell(self, rooms: set[int], batch: list[_Leaving]) -> None:
        outcomes = await asyncio.gather(*(self.roster(room) for room in sorted(rooms)),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.error("a roster after disconnections failed", exc_info=outcome)
        for item in batch:
            if not item.done.done():
                item.done.set_result(None)

    async def _write(self, batch: list[_Leaving]) -> set[int]:
        """One transaction for the batch; the rooms where someone was disconnected."""
        current = now()
        async with self.db.begin() as db:
            # The rows locked in id order, as signalling/arrivals.py locks them (the two
            # writers never deadlock); then cleared where the connection is still the
            # person's, by primary key.
            held = dict((await db.execute(
                select(Participant.id, Participant.connection_id).where(Participant.id.in_(
                    {item.participant_id for item in batch})).order_by(Participant.id)
                .with_for_update())).all())
            cleared = {item.participant_id for item in batch
                       if held.get(item.participant_id) == item.connection}
            if cleared:
                await db.execute(update(Participant).where(Participant.id.in_(cleared))
                                 .values(connection_id=None)
                                 .execution_options(synchronize_session=False))
            gone = [item for item in batch if item.participant_id in cleared]
            if not gone:
                return set()
            rooms = {item.appointment_id for item in gone}
            sessions = dict((await db.execute(
                select(CallSession.appointment_id, func.max(CallSession.id))
                .where(CallSession.appointment_id.in_(rooms), CallSession.ended_at.is_(None))
                .group_by(CallSession.appointment_id))).all())
            once = {item.participant_id: item for item in gone}  # one event per person
            rows = [_event(item, sessions.get(item.appointment_id), current)
                    for item in once.values()]
            await db.execute(insert(ParticipantEvent), rows)
        return rooms


def _event(item: _Leaving, session_id: int | None, at: datetime) -> dict[str, Any]:
    return {"appointment_id": item.appointment_id, "call_session_id": session_id,
            "participant_id": item.participant_id, "actor_id": None, "kind": "disconnected",
            "at": at, "detail": {"reason": STOPPING} if item.drained else {}}
