"""The room bus: how a message for a participant reaches the connection that serves them.

Connections never hold references to each other. A connection registers with the bus under
(room, participant, connection id) and gets messages through its `deliver` callback; anyone
sends to a participant or to a whole room through the bus. `InProcessBus` serves one process;
`signalling.redis_bus.RedisBus` serves several (selected by `RAPPORT_ROOM_BUS`) without
changing the callers, because nothing outside the bus knows where a connection lives.

Beside routing, the bus holds the little state the room services share between processes
(a person's language, "this prompt was already shown") and says which processes are alive
(their leases), so a participant whose process is gone counts as disconnected.
"""

from __future__ import annotations

import abc
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Deliver = Callable[[dict[str, Any]], Awaitable[None]]
# A service one process offers the others (the recording desk's recorder lives in one).
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CallFailed(Exception):
    """A call to another process failed: it is gone, did not answer, or its handler failed."""


def new_process_id() -> str:
    """A short random name for this process (connection ids start with it)."""
    return uuid.uuid4().hex[:12]


def process_of(connection: str) -> str:
    """The process a connection id belongs to ("" for ids from before processes had names)."""
    head, dot, _ = connection.partition(".")
    return head if dot else ""


class RoomBus(abc.ABC):
    process: str
    handlers: dict[str, Handler]

    def serve(self, kind: str, handler: Handler) -> None:
        """Answer `call`s of this kind from any process (this one included)."""
        self.handlers[kind] = handler

    async def call(self, process: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Ask `process` to run its `kind` handler; its answer, or `CallFailed`."""
        if process != self.process:
            raise CallFailed(f"process {process} cannot be reached on this bus")
        return await self.handlers[kind](payload)

    def connection_id(self) -> str:
        """A new connection id, naming this process."""
        return f"{self.process}.{uuid.uuid4().hex}"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect and take this process's lease (before the first connection)."""

    @abc.abstractmethod
    async def alive(self, processes: set[str]) -> set[str]:
        """Which of these processes still hold their lease."""

    @abc.abstractmethod
    async def remember(self, key: str, value: str) -> None:
        """Keep a small shared value (a day at most) for every process."""

    @abc.abstractmethod
    async def recall(self, key: str) -> str | None:
        """A value `remember`ed by any process, if still kept."""

    @abc.abstractmethod
    async def first(self, key: str) -> bool:
        """True for the first caller on any process to claim `key` (a day at most)."""

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

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise if the bus cannot carry messages (for /readyz)."""

    def rooms(self) -> int:
        """How many rooms have a live connection on this process (health, benchmarks)."""
        return 0


class InProcessBus(RoomBus):
    """Connections of this process only: a dictionary of rooms to participants to callbacks."""

    def __init__(self) -> None:
        self.process = new_process_id()
        self.handlers = {}
        self._rooms: dict[int, dict[int, tuple[str, Deliver]]] = {}
        self._values: dict[str, str] = {}
        self._claimed: set[str] = set()

    async def alive(self, processes: set[str]) -> set[str]:
        # Alone: every other process (an earlier run of this one) is gone.
        return processes & {self.process}

    async def remember(self, key: str, value: str) -> None:
        self._values[key] = value

    async def recall(self, key: str) -> str | None:
        return self._values.get(key)

    async def first(self, key: str) -> bool:
        if key in self._claimed:
            return False
        self._claimed.add(key)
        return True

    async def attach(self, room: int, participant: int, connection: str,
                     deliver: Deliver) -> None:
        members = self._rooms.setdefault(room, {})
        previous = members.get(participant)
        members[participant] = (connection, deliver)
        if previous is not None and previous[0] != connection:
            await safely(previous[1], {"type": "replaced"})

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
            await safely(target[1], message)

    def rooms(self) -> int:
        """How many rooms have a live connection (for health and benchmarks)."""
        return len(self._rooms)


async def safely(deliver: Deliver, message: dict[str, Any]) -> None:
    # A connection that is closing must never break the sender: its own loop cleans it up.
    with contextlib.suppress(ConnectionError, RuntimeError):
        await deliver(message)
