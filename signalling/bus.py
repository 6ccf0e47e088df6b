"""The room bus: how a message for a participant reaches the connection that serves them.

Connections never hold references to each other. A connection registers with the bus under
(room, participant, connection id) and gets messages through its `deliver` callback; anyone
sends to a participant or to a whole room through the bus. `InProcessBus` serves one process;
a Redis implementation can take its place without changing the callers, because nothing
outside this module knows where a connection lives.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Deliver = Callable[[dict[str, Any]], Awaitable[None]]


class RoomBus(abc.ABC):
    @abc.abstractmethod
    async def attach(self, room: int, participant: int, connection: str,
                     deliver: Deliver) -> None:
        """Route the participant's messages to this connection from now on.

        A connection already attached for the same participant gets `{"type": "replaced"}`
        and stops receiving anything else.
        """

    @abc.abstractmethod
    async def detach(self, room: int, participant: int, connection: str) -> None:
        """Stop routing to this connection (nothing happens if it was already replaced)."""

    @abc.abstractmethod
    async def send(self, room: int, participant: int, message: dict[str, Any]) -> None:
        """Deliver to the participant's current connection, if any (else drop)."""

    async def send_many(self, room: int, participants: Iterable[int],
                        message: dict[str, Any]) -> None:
        for participant in participants:
            await self.send(room, participant, message)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources at shutdown."""


class InProcessBus(RoomBus):
    """Connections of this process only: a dictionary of rooms to participants to callbacks."""

    def __init__(self) -> None:
        self._rooms: dict[int, dict[int, tuple[str, Deliver]]] = {}

    async def attach(self, room: int, participant: int, connection: str,
                     deliver: Deliver) -> None:
        members = self._rooms.setdefault(room, {})
        previous = members.get(participant)
        members[participant] = (connection, deliver)
        if previous is not None and previous[0] != connection:
            await _safely(previous[1], {"type": "replaced"})

    async def detach(self, room: int, participant: int, connection: str) -> None:
        members = self._rooms.get(room)
        if members is None:
            return
        current = members.get(participant)
        if current is not None and current[0] == connection:
            del members[participant]
        if not members:
            self._rooms.pop(room, None)

    async def send(self, room: int, participant: int, message: dict[str, Any]) -> None:
        target = self._rooms.get(room, {}).get(participant)
        if target is not None:
            await _safely(target[1], message)

    def rooms(self) -> int:
        """How many rooms have a live connection (for health and benchmarks)."""
        return len(self._rooms)


async def _safely(deliver: Deliver, message: dict[str, Any]) -> None:
    # A connection that is closing must never break the sender: its own loop cleans it up.
    with contextlib.suppress(ConnectionError, RuntimeError):
        await deliver(message)
