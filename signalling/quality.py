"""Call-quality statistics from the browsers, kept aggregated per person and session.

Pages send a `stats` message about every 10 s (web/static/stats.js): per peer connection,
round-trip time, packets received and lost, and bitrates since the previous report. Only
running totals are stored (one `call_quality` row per person per session), never every
sample, so a long call costs one row. Reports closer together than `MIN_INTERVAL` seconds
are refused, on top of the connection's message rate limit.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.joining.members import Member
from server.store.models import CallQuality, CallSession
from signalling.protocol import ErrorCode, ProtocolError, Stats

MIN_INTERVAL = 5.0


def add(row: CallQuality, message: Stats) -> None:
    """Fold one report into the running totals."""
    rtts = [p.rtt_ms for p in message.peers if p.rtt_ms is not None]
    row.samples += 1
    if rtts:
        rtt = round(sum(rtts) / len(rtts))
        row.rtt_samples += 1
        row.rtt_ms_sum += rtt
        row.rtt_ms_max = max(row.rtt_ms_max, max(rtts))
    row.packets_received += sum(p.packets_received for p in message.peers)
    row.packets_lost += sum(p.packets_lost for p in message.peers)
    kbps_in = sum(p.kbps_in for p in message.peers)
    row.kbps_in_sum += kbps_in
    row.kbps_out_sum += sum(p.kbps_out for p in message.peers)
    row.kbps_in_min = kbps_in if row.kbps_in_min is None else min(row.kbps_in_min, kbps_in)
    row.last_at = now()


async def _row(db: AsyncSession, session_id: int, participant_id: int) -> CallQuality:
    row = await db.scalar(select(CallQuality).where(
        CallQuality.call_session_id == session_id,
        CallQuality.participant_id == participant_id).with_for_update())
    if row is None:
        row = CallQuality(call_session_id=session_id, participant_id=participant_id,
                          samples=0, rtt_samples=0, rtt_ms_sum=0, rtt_ms_max=0,
                          packets_received=0, packets_lost=0, kbps_in_sum=0, kbps_out_sum=0,
                          first_at=now(), last_at=now())
        db.add(row)
    return row


async def store(maker: async_sessionmaker[AsyncSession], member: Member, message: Stats,
                last: float) -> float:
    """Add a report to this person's totals in the live session; returns when it was kept."""
    moment = time.monotonic()
    if moment - last < MIN_INTERVAL:
        raise ProtocolError(ErrorCode.RATE_LIMITED,
                            f"send statistics at most every {MIN_INTERVAL:g} seconds",
                            ref="stats")
    async with maker.begin() as db:
        session = await db.scalar(select(CallSession.id).where(
            CallSession.appointment_id == member.appointment_id,
            CallSession.ended_at.is_(None)).order_by(CallSession.id.desc()).limit(1))
        if session is None:
            raise ProtocolError(ErrorCode.SESSION_ENDED, "the session is not running",
                                ref="stats")
        add(await _row(db, session, member.participant_id), message)
    return moment
