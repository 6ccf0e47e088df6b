""""If nothing works" (inclusion, #7): the call page reports that it could not get going.

When a person's page cannot start the session (camera and microphone refused or missing, the
signalling WebSocket unreachable after its retries, the peer connection failed and not
recovering) it posts one small report here. It is kept as a pre-call check row with verdict
"failed" and a `reason`: the same kind of fact about the person's device and line, with the
same retention, subject-access coverage and live path to the practitioner's waiting list.
The caller is known as for POST /precall/result (participant cookie, or the practitioner);
a plain HTTP request, because the WebSocket may be exactly what does not work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from server import keys
from server.clock import now
from server.errors import N_, TooMany
from server.joining.precall import caller
from server.parsing import MAX_ID, json_body
from server.staff.access import Audience, allow
from server.store import audit
from server.store.models import PrecallCheck

Reason = Literal["media_denied", "media_missing", "signalling_unreachable", "ice_failed"]
# A page reports each failure once; a few more allow reloads. More is a loop or abuse.
MAX_REPORTS = 5
PER = timedelta(minutes=10)


class FailureReport(BaseModel):
    appointment: int | None = Field(default=None, ge=1, le=MAX_ID)
    reason: Reason
    camera: bool
    microphone: bool


@allow(Audience.PUBLIC)  # the caller is identified below, as /signal does
async def failure_report(request: web.Request) -> web.Response:
    """Keep why this person's page could not start; the practitioner sees it live."""
    body = await json_body(request, FailureReport)
    member = await caller(request, body.appointment)
    current = now()
    async with request.app[keys.DB].begin() as db:
        recent = await db.scalar(select(func.count(PrecallCheck.id)).where(
            PrecallCheck.appointment_id == member.appointment_id,
            PrecallCheck.participant_id == member.participant_id,
            PrecallCheck.reason.is_not(None), PrecallCheck.created_at > current - PER)) or 0
        if recent >= MAX_REPORTS:
            raise TooMany(N_("This problem has been reported already. Call the number on the "
                             "page for help."), headers={"Retry-After": str(int(PER.seconds))})
        row = PrecallCheck(
            appointment_id=member.appointment_id, participant_id=member.participant_id,
            user_id=member.user_id, verdict="failed", rtt_ms=None, loss_percent=None,
            bitrate_kbps=None, camera=body.camera, microphone=body.microphone,
            reason=body.reason, created_at=current)
        db.add(row)
        await db.flush()
        audit.record(db, request, "call.failure", "appointment", member.appointment_id,
                     participant=member.participant_id, reason=body.reason)
    # The waiting list shows it now.
    await request.app[keys.LIVE_ROOMS].roster(member.appointment_id)
    return web.json_response({"id": row.id, "reason": row.reason}, status=201)


def setup(app: web.Application) -> None:
    app.router.add_post("/precall/failure", failure_report, name="precall-failure")
