"""The pre-call check's two small endpoints: the echo peer's offer/answer, and the result.

A dedicated endpoint rather than the /signal WebSocket: the check runs before the checklist
and the waiting room, and opening /signal puts a person in the room (the practitioner would
see them "waiting" while they are still testing their camera). aiortc gathers every candidate
before it answers, so one POST carries the whole exchange (no trickle). Both endpoints know the
caller as /signal does: a participant cookie, or the appointment's practitioner signed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from media.echo import EchoBusy, EchoPeers
from media.turn import server_peer_config
from server import keys
from server.clock import now
from server.errors import N_, BadRequest, Unauthenticated
from server.errors import TooMany as TooManyError
from server.joining.members import Member, member_for_participant, member_for_staff
from server.parsing import MAX_ID, json_body
from server.staff.access import Audience, allow
from server.store import audit
from server.store.keys import USER
from server.store.models import PrecallCheck

ECHO: web.AppKey[EchoPeers] = web.AppKey("echo_peers", EchoPeers)
Verdict = Literal["good", "fair", "weak", "failed", "skipped"]


class EchoOffer(BaseModel):
    appointment: int | None = Field(default=None, ge=1, le=MAX_ID)
    sdp: str = Field(min_length=10, max_length=20_000)


class PrecallResult(BaseModel):
    appointment: int | None = Field(default=None, ge=1, le=MAX_ID)
    verdict: Verdict
    rtt_ms: int | None = Field(default=None, ge=0, le=60_000)
    loss_percent: int | None = Field(default=None, ge=0, le=100)
    bitrate_kbps: int | None = Field(default=None, ge=0, le=100_000)
    camera: bool
    microphone: bool


async def caller(request: web.Request, appointment: int | None) -> Member:
    """Who is testing: a person who joined by link, or the appointment's practitioner."""
    member = await member_for_participant(request)
    if member is not None:
        return member
    if request.get(USER) is not None and appointment is not None:
        return await member_for_staff(request, appointment)
    raise Unauthenticated(N_("Open your invitation link again, or sign in."))


@allow(Audience.PUBLIC)  # the caller is identified below, as /signal does
async def echo_offer(request: web.Request) -> web.Response:
    """Start an echo peer for this caller's connection test; answer its offer."""
    body = await json_body(request, EchoOffer)
    member = await caller(request, body.appointment)
    return await echo_answer(request, f"p{member.participant_id}", body.sdp)


async def echo_answer(request: web.Request, who: str, offer: str) -> web.Response:
    """The echo peer's answer to a browser's complete offer, or a readable refusal."""
    if not offer.startswith("v=0") or "\nm=" not in offer:
        raise BadRequest(N_("This is not a WebRTC offer the connection test can answer: "
                            "{why}"), why="an SDP offer with at least one media section")
    try:
        sdp = await request.app[ECHO].answer(who, offer)
    except EchoBusy as exc:
        raise TooManyError(N_("The connection test is busy. Try again in a minute, or skip "
                              "it."), headers={"Retry-After": "60"}) from exc
    except ValueError as exc:  # aiortc refuses a malformed offer
        raise BadRequest(N_("This is not a WebRTC offer the connection test can answer: "
                            "{why}"), why=str(exc)[:200]) from None
    return web.json_response({"type": "answer", "sdp": sdp})


@allow(Audience.PUBLIC)  # the caller is identified below, as /signal does
async def precall_result(request: web.Request) -> web.Response:
    """Keep the check's result with the session; the practitioner's waiting list shows it."""
    body = await json_body(request, PrecallResult)
    member = await caller(request, body.appointment)
    async with request.app[keys.DB].begin() as db:
        row = PrecallCheck(
            appointment_id=member.appointment_id, participant_id=member.participant_id,
            user_id=member.user_id, verdict=body.verdict, rtt_ms=body.rtt_ms,
            loss_percent=body.loss_percent, bitrate_kbps=body.bitrate_kbps,
            camera=body.camera, microphone=body.microphone, created_at=now())
        db.add(row)
        await db.flush()
        audit.record(db, request, "precall.result", "appointment", member.appointment_id,
                     participant=member.participant_id, verdict=body.verdict)
    # The waiting list shows it now.
    await request.app[keys.LIVE_ROOMS].roster(member.appointment_id)
    return web.json_response({"id": row.id, "verdict": row.verdict}, status=201)


async def latest_precalls(db: AsyncSession, appointment_id: int) -> dict[int, dict[str, Any]]:
    """The newest pre-call check of each participant of the appointment, as the roster
    shows it."""
    return (await latest_precalls_of(db, [appointment_id])).get(appointment_id, {})


async def latest_precalls_of(db: AsyncSession, appointment_ids: Collection[int]
                             ) -> dict[int, dict[int, dict[str, Any]]]:
    """`latest_precalls` for each of these appointments, in one statement."""
    rows = await db.scalars(select(PrecallCheck).where(
        PrecallCheck.appointment_id.in_(appointment_ids),
        PrecallCheck.participant_id.is_not(None)).order_by(PrecallCheck.id))
    out: dict[int, dict[int, dict[str, Any]]] = {}
    failures: dict[int, dict[str, str]] = {}
    for row in rows:
        assert row.participant_id is not None
        latest = out.setdefault(row.appointment_id, {})
        latest[row.participant_id] = {
            "verdict": row.verdict, "rtt_ms": row.rtt_ms, "loss_percent": row.loss_percent,
            "bitrate_kbps": row.bitrate_kbps, "camera": row.camera,
            "microphone": row.microphone, "at": row.created_at.isoformat()}
        if row.reason is not None:  # server/failure.py: kept even when a check follows
            failures[row.participant_id] = {"reason": row.reason, "at": row.created_at.isoformat()}
    for room in out.values():
        for participant_id, failure in failures.items():
            if participant_id in room:
                room[participant_id]["failure"] = failure
    return out


async def echo_ctx(app: web.Application) -> AsyncIterator[None]:
    """The echo peers live with the app; every one is closed at shutdown."""
    app[ECHO] = EchoPeers(ice=server_peer_config(app[keys.SETTINGS].stun_urls))
    yield
    await app[ECHO].close_all()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(echo_ctx)
    app.router.add_post("/precall/echo", echo_offer, name="precall-echo")
    app.router.add_post("/precall/result", precall_result, name="precall-result")
