"""Where a session's recorder lives when the room spans several processes.

The recorder's peers are aiortc objects of one process, so one process decides and records
for each room: the practitioner's (whose connection id names it), while its lease lives;
otherwise the process asking. Other processes forward to it through the bus: a change in
the room ("desk-evaluate") and a browser's offer to the recorder ("recorder-offer", answered
with the recorder's SDP). See docs/recording.md, "Recording across processes".
"""

from __future__ import annotations

import contextlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.joining.members import Member
from server.store.models import Participant, ParticipantRole
from signalling.bus import CallFailed, RoomBus, process_of
from signalling.protocol import ErrorCode, ProtocolError


async def owner(db: async_sessionmaker[AsyncSession], bus: RoomBus, appointment_id: int) -> str:
    """The process whose desk decides for this room."""
    async with db() as s:
        connection = await s.scalar(select(Participant.connection_id).where(
            Participant.appointment_id == appointment_id,
            Participant.role == ParticipantRole.PRACTITIONER))
    process = process_of(connection or "")
    if process and process != bus.process and await bus.alive({process}):
        return process
    return bus.process


async def forward_offer(bus: RoomBus, home: str, member: Member, request_id: int,
                        sdp: str) -> str:
    """A browser's offer to the recorder on another process; its answer's SDP."""
    try:
        answer = await bus.call(home, "recorder-offer", {
            "appointment": member.appointment_id, "participant": member.participant_id,
            "request": request_id, "sdp": sdp})
    except CallFailed as exc:
        answer = {"refused": f"the recorder cannot be reached: {exc}"}
    if "sdp" not in answer:
        raise ProtocolError(ErrorCode.RECORDER_REFUSED, str(answer["refused"]),
                            ref="recorder-offer")
    return str(answer["sdp"])


async def started_here(bus: RoomBus, appointment_id: int) -> None:
    """Note on the bus which process runs this room's recorder."""
    await bus.remember(f"recorder:{appointment_id}", bus.process)


async def moved_away(bus: RoomBus, appointment_id: int) -> bool:
    """The room's recorder runs (or ran) on another process: stop it there. True if so —
    a recording never moves; the request stops with reason "restart"."""
    home = await bus.recall(f"recorder:{appointment_id}")
    if not home or home == bus.process:
        return False
    with contextlib.suppress(CallFailed):  # a process that is gone took its recorder along
        await bus.call(home, "recorder-stop", {"appointment": appointment_id})
    await bus.remember(f"recorder:{appointment_id}", "")
    return True
