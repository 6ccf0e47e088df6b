"""Leg health: each pair's peer connection as the two pages report it (issue #13).

A *leg* is the peer connection between two admitted people. Each page sends `legs` with the
state of each of its connections (connected, checking, failed, and the candidate type of
the selected pair); the desk keeps one view per room, tells the practitioner whenever it
changes, and writes `leg_failed` and `leg_recovered` participant events (the contact record
is built from them) in one transaction *before* the view changes, so the view never shows
what the store does not hold. The view lives in this process, like the recording desk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.joining.members import Member
from server.store.models import Participant, ParticipantRole
from signalling.bus import RoomBus
from signalling.protocol import ErrorCode, LegReport, ProtocolError
from signalling.sessions import event, iso, live_session

Pair = tuple[int, int]


@dataclass(slots=True)
class Leg:
    """One pair's connection: each side's last report and the state they add up to."""

    a: int
    b: int
    since: datetime
    state: str = "checking"
    failed_at: datetime | None = None
    reports: dict[int, tuple[str, str | None]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "state": self.state, "since": iso(self.since),
                "candidates": {str(pid): kind for pid, (_s, kind) in self.reports.items()}}


def combined(reports: dict[int, tuple[str, str | None]]) -> str:
    """One side failed: the leg failed; every side connected: connected; else checking."""
    states = {state for state, _kind in reports.values()}
    if "failed" in states:
        return "failed"
    return "connected" if states == {"connected"} else "checking"


def pair(one: int, other: int) -> Pair:
    return (min(one, other), max(one, other))


class LegDesk:
    """The legs of every room of this process."""

    def __init__(self, db: async_sessionmaker[AsyncSession], bus: RoomBus) -> None:
        self.db = db
        self.bus = bus
        self.rooms: dict[int, dict[Pair, Leg]] = {}

    def view(self, appointment_id: int) -> list[dict[str, Any]]:
        return [leg.as_json() for _key, leg in sorted(self.rooms.get(appointment_id, {}).items())]

    async def report(self, member: Member, peers: set[int],
                     reports: Sequence[LegReport]) -> None:
        """Take one page's report; `peers` are the admitted others its connection knows."""
        self._check(peers, [r.peer for r in reports])
        me, current = member.participant_id, now()
        room = self.rooms.setdefault(member.appointment_id, {})
        for gone in [k for k in room if me in k and not set(k) <= peers | {me}]:
            del room[gone]  # a peer no longer admitted: that leg is over
        seen = False
        changes: list[tuple[Leg, str, dict[int, tuple[str, str | None]]]] = []
        for r in reports:
            key = pair(me, r.peer)
            leg = room.get(key) or Leg(key[0], key[1], current)
            room[key] = leg
            after = {**leg.reports, me: (r.state, r.candidate)}
            seen = seen or after != leg.reports
            changes.append((leg, combined(after), after))
        await self._store(member, [(leg, state) for leg, state, _r in changes
                                   if state != leg.state], current)
        for leg, state, after in changes:
            if state != leg.state:
                if state == "failed":
                    leg.failed_at = leg.failed_at or current
                elif state == "connected":
                    leg.failed_at = None  # a failure lasts until the leg connects again
                leg.state, leg.since = state, current
            leg.reports = after
        if seen:
            await self.tell_practitioner(member.appointment_id)

    def _check(self, peers: set[int], named: list[int]) -> None:
        unknown = [p for p in named if p not in peers]
        if unknown:
            raise ProtocolError(ErrorCode.UNKNOWN_LEG,
                                f"you hold no connection to participant {unknown[0]} in this "
                                "room", ref="legs")
        if len(set(named)) != len(named):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "each peer may be reported once",
                                ref="legs", errors=[{"field": "legs", "problem": "repeated"}])

    async def _store(self, member: Member, moves: list[tuple[Leg, str]],
                     current: datetime) -> None:
        """The failures and recoveries among `moves`, as events of the reporting person."""
        rows: list[tuple[str, Leg, dict[str, Any]]] = []
        for leg, state in moves:
            if state == "failed" and leg.failed_at is None:
                rows.append(("leg_failed", leg, {}))
            elif state == "connected" and leg.failed_at is not None:
                seconds = round((current - leg.failed_at).total_seconds(), 1)
                rows.append(("leg_recovered", leg, {"seconds": seconds}))
        if not rows:
            return
        async with self.db.begin() as db:
            person = await db.get(Participant, member.participant_id)
            assert person is not None
            session = await live_session(db, member.appointment_id)
            for kind, leg, detail in rows:
                peer = leg.b if leg.a == member.participant_id else leg.a
                event(db, person, kind, current, session.id if session else None,
                      peer=peer, a=leg.a, b=leg.b, **detail)

    async def tell_practitioner(self, appointment_id: int) -> None:
        async with self.db() as db:
            practitioner = await db.scalar(select(Participant.id).where(
                Participant.appointment_id == appointment_id,
                Participant.role == ParticipantRole.PRACTITIONER))
        if practitioner is not None:
            await self.bus.send(appointment_id, practitioner,
                                {"type": "legs", "legs": self.view(appointment_id)})

    async def repair(self, member: Member, peers: set[int], a: int, b: int) -> None:
        """The practitioner's "Try again": the leg's offering (lower id) side starts afresh."""
        present = peers | {member.participant_id}
        if a == b or a not in present or b not in present:
            raise ProtocolError(ErrorCode.UNKNOWN_LEG,
                                f"there is no leg between {a} and {b} in this room",
                                ref="repair")
        low, high = pair(a, b)
        await self.bus.send(member.appointment_id, low, {"type": "repair", "peer": high})

    def forget(self, appointment_id: int) -> None:
        self.rooms.pop(appointment_id, None)
