"""Messages a connection hands on to a desk: the recording desk and the leg-health desk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.joining.members import Member
from signalling import protocol
from signalling.keys import DESK, LEGS


async def to_legs(app: web.Application, member: Member, peers: set[int], message: Any) -> None:
    """A page's report of its peer connections, or the practitioner's "Try again"."""
    desk = app[LEGS]
    if isinstance(message, protocol.Legs):
        await desk.report(member, peers, message.legs)
    else:
        await desk.repair(member, peers, message.a, message.b)


async def to_recording(app: web.Application, member: Member, message: Any,
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Asking to record, answering, withdrawing, and the recorder's offer and answer."""
    desk = app[DESK]
    if isinstance(message, protocol.Record):
        await desk.request(member)
    elif isinstance(message, protocol.Consent):
        await desk.answer(member, message.request, message.answer == "yes", message.wording)
    elif isinstance(message, protocol.Withdraw):
        await desk.withdraw(member, message.request)
    elif isinstance(message, protocol.RecorderOffer):
        sdp = await desk.recorder_offer(member, message.request, message.sdp)
        await send({"type": "recorder-answer", "request": message.request, "sdp": sdp})
