"""Telling the room about recording: the `recording` message, and the stop told from memory.

Every broadcast leaves behind, in memory, who was told and which request is open. A withdrawal
then tells that audience "stopped" at once (no database round trip, no lock), before the desk
writes the ledger; the desk's own broadcast of the same state afterwards is not sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.store.models import Recording
from signalling.bus import RoomBus
from signalling.recording_store import ACTIVE


def message(row_id: int, state: str, waiting: Sequence[int], reason: str | None
            ) -> dict[str, Any]:
    return {"type": "recording", "request": row_id, "state": state,
            "waiting_for": list(waiting), "reason": reason}


class RecordingNotices:
    """The `recording` messages of every room of this process."""

    def __init__(self, bus: RoomBus) -> None:
        self.bus = bus
        self.audience: dict[int, tuple[int, ...]] = {}  # appointment → who was last told
        self.open: dict[int, int] = {}  # appointment → the open request, as last told
        self.told_early: dict[int, tuple[str, str | None]] = {}  # request → (state, reason)

    def is_open(self, appointment_id: int, request_id: int) -> bool:
        """Whether the room was last told that this request is open."""
        return self.open.get(appointment_id) == request_id

    async def stopped_now(self, appointment_id: int, request_id: int, reason: str) -> None:
        """Tell everyone last told about this request that it stopped; nothing is awaited
        but handing the message to each connection's queue."""
        self.open.pop(appointment_id, None)
        self.told_early[request_id] = ("stopped", reason)
        await self.bus.send_many(appointment_id, self.audience.get(appointment_id, ()),
                                 message(request_id, "stopped", (), reason))

    async def broadcast(self, connected: tuple[int, ...], row: Recording | None,
                        waiting: Sequence[int], note: str | None = None) -> None:
        """The request's state to everyone connected (unless told already, early)."""
        if row is None:
            return
        appointment_id = row.appointment_id
        self.audience[appointment_id] = connected
        early = self.told_early.get(row.id)
        if early is not None:
            if row.state in ACTIVE:
                return  # a state read before the withdrawal: already overtaken
            del self.told_early[row.id]
            if note is None and early == (row.state.value, row.stopped_reason or None):
                return
        if row.state in ACTIVE:
            self.open[appointment_id] = row.id
        elif self.open.get(appointment_id) == row.id:
            del self.open[appointment_id]
        out = message(row.id, row.state.value, waiting if row.state in ACTIVE else (),
                      row.stopped_reason or None)
        if note is not None:
            out["message"] = note
        await self.bus.send_many(appointment_id, connected, out)
