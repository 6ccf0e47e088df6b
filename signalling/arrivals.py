"""Connect storms: every connection's `hello` written in batches (issue #17).

After a Wi-Fi blip or a restart thousands of pages say `hello` at once. Each used to be a
transaction of its own (the person's row locked, the live session, the event, when answers
count, whether the checklist is answered, then the policy for the checklist offer: a dozen
statements). Here one writer takes every `hello` waiting and records them together, in one
transaction whose statements each cover the whole batch:

- the people's rows, locked in id order (as `Departures` locks them, so the two writers
  never deadlock);
- each room's live session and the end of its last one (from when checklist answers count);
- each person's newest checklist answer;
- each room's policy in force (`PolicyStore.for_appointments`), for the checklist offer;
- one multi-row UPDATE of the people and one multi-row INSERT of their events, in the same
  transaction as the state change they record.

The rules are those of one `hello` at a time (docs/signalling.md), applied in arrival order,
so two `hello`s of one person in a batch end as they would one after the other. A person
whose part is over gets SESSION_ENDED, worded in their own connection's language.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policies import Policy
from server.casework.policy_versions import PolicyStore
from server.clock import now
from server.errors import N_
from server.i18n import gettext
from server.joining.members import Member
from server.store.models import (
    CallSession,
    ChecklistResponse,
    Participant,
    ParticipantEvent,
    ParticipantRole,
    ParticipantState,
)
from signalling.protocol import ErrorCode, ProtocolError
from signalling.sessions import FINAL

log = logging.getLogger("rapport.signalling.arrivals")

BATCH = 500  # hellos per transaction

P = Participant
COLUMNS = (P.id, P.appointment_id, P.role, P.state, P.state_since, P.connection_id, P.epoch,
           P.created_at)


class Connected(NamedTuple):
    """What a `hello` found: the person's state and since when, whether their checklist is
    answered, the session ("live" or "open"), the id of this connection's event (no roster
    older than it speaks for this connection) and the policy in force."""

    state: ParticipantState
    since: datetime
    answered: bool
    session: str
    version: int
    policy: Policy


@dataclass(slots=True)
class _Hello:
    member: Member
    connection: str
    resume: bool
    done: asyncio.Future[Connected | ParticipantState]


class Arrivals:
    """The writer of connections: batched, one transaction at a time."""

    def __init__(self, db: async_sessionmaker[AsyncSession], policies: PolicyStore,
                 gone: Callable[[Member, str], Coroutine[Any, Any, None]],
                 batch: int = BATCH) -> None:
        self.db = db
        self.policies = policies
        self.gone = gone  # records a disconnection (a caller that left while written)
        self.batch = batch
        self.queue: list[_Hello] = []
        self.task: asyncio.Task[None] | None = None
        self.leaving: set[asyncio.Task[None]] = set()

    async def connect(self, member: Member, connection: str, resume: bool) -> Connected:
        """Mark the person connected. Raises `ProtocolError` SESSION_ENDED for a person
        whose part is over."""
        loop = asyncio.get_running_loop()
        item = _Hello(member, connection, resume, loop.create_future())
        self.queue.append(item)
        if self.task is None:
            self.task = loop.create_task(self._write_all())
        try:
            outcome = await item.done  # cancelled with the caller: not written, or undone
        except asyncio.CancelledError:
            if not item.done.cancelled() and isinstance(item.done.result(), Connected):
                self._leave(item)  # written, but its caller went before hearing so
            raise
        if isinstance(outcome, ParticipantState):
            raise ProtocolError(ErrorCode.SESSION_ENDED,
                                gettext(N_("This session is over for you.")),
                                state=outcome.value)
        return outcome

    async def _write_all(self) -> None:
        try:
            while self.queue:
                batch = [h for h in self.queue[:self.batch] if not h.done.done()]
                self.queue = self.queue[self.batch:]
                if not batch:
                    continue
                try:
                    outcomes = await self._write(batch, now())
                except Exception as exc:
                    log.exception("could not record %s connections", len(batch))
                    for item in batch:
                        if not item.done.done():
                            item.done.set_exception(exc)
                            item.done.exception()
                    continue
                for item, outcome in zip(batch, outcomes, strict=True):
                    if not item.done.done():
                        item.done.set_result(outcome)
                    elif isinstance(outcome, Connected):  # its caller went meanwhile
                        self._leave(item)
        finally:
            self.task = None

    def _leave(self, item: _Hello) -> None:
        task = asyncio.get_running_loop().create_task(self.gone(item.member, item.connection))
        self.leaving.add(task)
        task.add_done_callback(self.leaving.discard)

    async def _write(self, batch: list[_Hello], current: datetime
                     ) -> list[Connected | ParticipantState]:
        ids = sorted({item.member.participant_id for item in batch})
        async with self.db.begin() as db:
            people = {row.id: {**row._asdict(), "read": (row.state, row.state_since, row.epoch)}
                      for row in await db.execute(
                select(*COLUMNS).where(P.id.in_(ids)).order_by(P.id).with_for_update())}
            missing = set(ids) - people.keys()
            assert not missing, f"no participant {sorted(missing)}"
            rooms = {person["appointment_id"] for person in people.values()}
            sessions: dict[int, int] = dict((await db.execute(
                select(CallSession.appointment_id, func.max(CallSession.id))
                .where(CallSession.appointment_id.in_(rooms), CallSession.ended_at.is_(None))
                .group_by(CallSession.appointment_id))).all())
            ended: dict[int, datetime | None] = dict((await db.execute(
                select(CallSession.appointment_id, func.max(CallSession.ended_at))
                .where(CallSession.appointment_id.in_(rooms))
                .group_by(CallSession.appointment_id))).all())
            answers: dict[int, datetime] = dict((await db.execute(
                select(ChecklistResponse.participant_id, func.max(ChecklistResponse.answered_at))
                .where(ChecklistResponse.participant_id.in_(ids))
                .group_by(ChecklistResponse.participant_id))).all())
            policies = await self.policies.for_appointments(db, rooms)
            events: list[dict[str, Any]] = []
            # Each hello's event (its index in `events`) and the state it left the person in.
            mine: list[tuple[int, ParticipantState, datetime, str] | None] = []
            for item in batch:
                person = people[item.member.participant_id]
                if person["state"] in FINAL:
                    mine.append(None)
                    continue
                room = person["appointment_id"]
                if person["role"] is ParticipantRole.PRACTITIONER and room not in sessions:
                    assert item.member.user_id is not None
                    sessions[room] = await _start(db, room, item.member.user_id, current)
                    events.append(_event(person, "started", current, sessions[room], {}))
                events.append(_arrive(person, item, current, sessions.get(room)))
                mine.append((len(events) - 1, person["state"], person["state_since"],
                             "live" if room in sessions else "open"))
            if not events:
                return [people[item.member.participant_id]["state"] for item in batch]
            await _update(db, [p for p in people.values() if p.get("changed")])
            written = list((await db.execute(
                insert(ParticipantEvent).returning(ParticipantEvent.id,
                                                   sort_by_parameter_order=True),
                events)).scalars())
        out: list[Connected | ParticipantState] = []
        for item, hello in zip(batch, mine, strict=True):
            person = people[item.member.participant_id]
            if hello is None:
                out.append(person["state"])
                continue
            index, state, since, session = hello
            room = person["appointment_id"]
            # Answers count from the end of the room's last session (signalling/checklists.py).
            newest = answers.get(person["id"])
            counted = newest is not None and newest >= (ended.get(room) or person["created_at"])
            out.append(Connected(state, since, counted, session, written[index],
                                 policies[room]))
        return out


async def _update(db: AsyncSession, people: list[dict[str, Any]]) -> None:
    """Write the people's new connections in one statement; their state and epoch too for
    the few whose changed (a storm's resumes change only the connection)."""
    await db.execute(update(Participant).where(Participant.id.in_([p["id"] for p in people]))
                     .values(connection_id=case({p["id"]: p["connection_id"] for p in people},
                                                value=Participant.id))
                     .execution_options(synchronize_session=False))
    more = [{"id": p["id"], "state": p["state"], "state_since": p["state_since"],
             "epoch": p["epoch"]} for p in people
            if (p["state"], p["state_since"], p["epoch"]) != p["read"]]
    if more:
        await db.execute(update(Participant), more)


async def _start(db: AsyncSession, room: int, user_id: int, at: datetime) -> int:
    """A practitioner's hello starts the session (one at a time: rare, never in a storm)."""
    started = await db.scalar(insert(CallSession).returning(CallSession.id).values(
        appointment_id=room, started_at=at, started_by_id=user_id))
    assert started is not None
    return started


def _arrive(person: dict[str, Any], item: _Hello, at: datetime,
            session_id: int | None) -> dict[str, Any]:
    """One hello's change to the person (in `person`) and the event that records it."""
    if (person["role"] is ParticipantRole.PRACTITIONER
            and person["state"] is not ParticipantState.ADMITTED):
        person["state"], person["state_since"] = ParticipantState.ADMITTED, at
    kind = "reconnected"
    if person["state"] is ParticipantState.LEFT:
        person["state"], person["state_since"] = ParticipantState.WAITING, at
        kind = "joined"
    elif person["connection_id"] is None and not item.resume and person["epoch"] == 0:
        kind = "joined"
    if not item.resume:
        person["epoch"] += 1
    replaced = person["connection_id"] is not None
    person["connection_id"], person["changed"] = item.connection, True
    return _event(person, kind, at, session_id, {"resume": item.resume, "replaced": replaced})


def _event(person: dict[str, Any], kind: str, at: datetime, session_id: int | None,
           detail: dict[str, Any]) -> dict[str, Any]:
    return {"appointment_id": person["appointment_id"], "call_session_id": session_id,
            "participant_id": person["id"], "actor_id": None, "kind": kind, "at": at,
            "detail": detail}
