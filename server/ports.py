"""What the feature packages may ask of the live rooms, declared below both.

`signalling/` implements it (`signalling.rooms.Rooms`) and puts it under `keys.LIVE_ROOMS`;
pages and endpoints that change who may be in a room (links replaced or revoked, a link
locked, a pre-call result to show) use it without importing signalling, and contact records
listen to `session_ended`; the diary asks who is waiting now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Waiting:
    """Someone connected to an appointment's room and waiting to be let in."""

    appointment_id: int
    name: str
    role: str  # client | interpreter
    since: datetime


class LiveRooms(Protocol):
    """The live rooms, as the rest of Rapport sees them."""

    # Called with the appointment id after a session ended.
    session_ended: list[Callable[[int], Awaitable[None]]]

    async def roster(self, appointment_id: int) -> None:
        """Send everyone connected what they may see of the room."""

    async def revoke_links(self, db: AsyncSession, appointment_id: int, role: str,
                           at: datetime) -> list[int]:
        """In the caller's transaction, the people who joined by that role's links leave;
        returns whom to tell (`removed`) once it has committed."""

    async def removed(self, appointment_id: int, participants: Sequence[int]) -> None:
        """Tell each of `participants` they were removed, then everyone the new roster."""

    async def link_locked(self, appointment_id: int, name: str) -> None:
        """Tell the practitioner, if they are in the room, that a client's link locked."""

    async def waiting(self, appointment_ids: Sequence[int]) -> Mapping[int, list[Waiting]]:
        """Who is connected and waiting now in each of these appointments' rooms."""
