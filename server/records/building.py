"""Contact records: written by Rapport when a remote session ends, completed by the practitioner.

A remote appointment has one `contact_record` and one `contact` row. The record holds what the
system saw (who joined and left when, modality, attendance, checklist answers, policy
decisions, call quality, and whatever the summary providers add, such as consent and
recording); the contact row holds what the policy rules count (kind, outcome, time) and the
practitioner's notes. See docs/contact-records.md.

When records are (re)built:
- a session ends (the practitioner ends it, or the last person leaves): `Rooms` calls us;
- a session whose process was stopped or killed and that nobody rejoined within the grace
  period is closed as "interrupted" by `signalling/liveness.py` (`close_interrupted`), then
  built like any ended session;
- the sweeper (every `records_sweep_seconds`) ends sessions everyone abandoned, builds any
  ended session whose record is missing or older, and writes "failed to attend" for remote
  appointments whose time passed with no session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policies.facts import ContactOutcome
from server import keys
from server.clock import now
from server.records.facts import Event, Person, RecordFacts, Session, iso, work_out
from server.records.keys import RECORD_SUMMARIES, SummaryProvider
from server.records.legs import interpreter_could_not_reach_client, leg_failures
from server.records.push import push
from server.store import audit
from server.store.models import (
    Appointment,
    AppointmentKind,
    CallQuality,
    CallSession,
    ChecklistResponse,
    Contact,
    ContactRecord,
    Participant,
    ParticipantEvent,
    ParticipantRole,
    ParticipantState,
    PolicyDecision,
)

log = logging.getLogger("rapport.records")

# A summary provider adds a section to every record: given the database session and a call
# session id, it returns JSON-able data (or None). The recording feature registers
# `recording_summary` under "recording": app[RECORD_SUMMARIES]["recording"] = ...

# A live session nobody has been connected to for this long is ended ("abandoned").
ABANDONED_AFTER = timedelta(minutes=15)
# A remote appointment with no session this long after its scheduled end: failed to attend.
MISSED_AFTER = timedelta(minutes=15)
# How far back the sweeper looks for missed appointments.
MISSED_LOOKBACK = timedelta(days=14)


# --- reading what the store kept ----------------------------------------------------------

async def _inputs(db: AsyncSession, appointment_id: int
                  ) -> tuple[list[Person], list[Session], list[Event]]:
    people = [Person(p.id, p.role.value, p.name) for p in await db.scalars(
        select(Participant).where(Participant.appointment_id == appointment_id)
        .order_by(Participant.id))]
    sessions = [Session(s.id, s.started_at, s.ended_at) for s in await db.scalars(
        select(CallSession).where(CallSession.appointment_id == appointment_id)
        .order_by(CallSession.id))]
    events = [Event(e.participant_id, e.kind, e.at, e.call_session_id, dict(e.detail or {}))
              for e in await db.scalars(
                  select(ParticipantEvent).where(ParticipantEvent.appointment_id == appointment_id)
                  .order_by(ParticipantEvent.id))]
    return people, sessions, events


async def _checklists(db: AsyncSession, appointment_id: int) -> list[dict[str, Any]]:
    rows = await db.scalars(select(ChecklistResponse).where(
        ChecklistResponse.appointment_id == appointment_id).order_by(ChecklistResponse.id))
    latest: dict[int, ChecklistResponse] = {r.participant_id: r for r in rows}
    return [{"participant": r.participant_id, "role": r.role, "answers": dict(r.answers),
             "questions": dict(r.questions or {}), "language": r.language,
             "complete": r.complete, "passed": r.passed, "policy_version": r.policy_version,
             "answered_at": iso(r.answered_at)} for r in latest.values()]


async def _decisions(db: AsyncSession, appointment_id: int) -> list[dict[str, Any]]:
    rows = await db.scalars(select(PolicyDecision).where(
        PolicyDecision.appointment_id == appointment_id).order_by(PolicyDecision.id))
    return [{"at": iso(d.at), "point": d.point, "outcome": d.outcome, "rules": list(d.rule_ids),
             "reasons": [str(r.get("message", "")) for r in d.reasons],
             "participant": d.subject_participant_id, "policy_version": d.policy_version}
            for d in rows]


async def _quality(db: AsyncSession, appointment_id: int) -> list[dict[str, Any]]:
    rows = (await db.execute(
        select(CallQuality, Participant.role).join(
            Participant, Participant.id == CallQuality.participant_id)
        .where(Participant.appointment_id == appointment_id)
        .order_by(CallQuality.id))).all()
    return [quality_out(q, role.value) for q, role in rows]


def quality_out(q: CallQuality, role: str) -> dict[str, Any]:
    """One person's call quality as averages a person can read."""
    received = q.packets_received + q.packets_lost
    return {
        "participant": q.participant_id, "role": role, "session": q.call_session_id,
        "samples": q.samples,
        "rtt_ms_avg": round(q.rtt_ms_sum / q.rtt_samples) if q.rtt_samples else None,
        "rtt_ms_max": q.rtt_ms_max if q.rtt_samples else None,
        "loss_percent": round(100 * q.packets_lost / received, 1) if received else None,
        "kbps_in_avg": round(q.kbps_in_sum / q.samples) if q.samples else None,
        "kbps_out_avg": round(q.kbps_out_sum / q.samples) if q.samples else None,
        "kbps_in_min": q.kbps_in_min,
    }


def _timeline(people: Sequence[Person], events: Sequence[Event]) -> list[dict[str, Any]]:
    roles = {p.id: p.role for p in people}
    return [{"at": iso(e.at), "participant": e.participant_id,
             "role": roles.get(e.participant_id), "kind": e.kind, "session": e.session_id,
             **({"detail": e.detail} if e.detail else {})}
            for e in events if e.kind != "checklist"]


# --- building -----------------------------------------------------------------------------

async def build(db: AsyncSession, appointment_id: int,
                providers: dict[str, SummaryProvider] | None = None) -> ContactRecord:
    """Write (or rewrite) the appointment's record and contact in the caller's transaction."""
    appointment = await db.get(Appointment, appointment_id, with_for_update=True)
    assert appointment is not None
    people, sessions, events = await _inputs(db, appointment_id)
    facts = work_out(people, sessions, events)
    scheduled_end = appointment.starts_at + timedelta(minutes=appointment.duration_minutes)
    summary: dict[str, Any] = {
        "scheduled": {"start": iso(appointment.starts_at), "end": iso(scheduled_end)},
        "sessions": [{"id": s.id, "started_at": iso(s.started_at), "ended_at": iso(s.ended_at)}
                     for s in sessions],
        "people": [p.as_json(appointment.starts_at, scheduled_end) for p in facts.people],
        "events": _timeline(people, events),
        "checklists": await _checklists(db, appointment_id),
        "decisions": await _decisions(db, appointment_id),
        "quality": await _quality(db, appointment_id),
        "legs": leg_failures(people, events, facts.actual_end),
        "recording": None,
    }
    if (facts.attendance is ContactOutcome.ATTENDED
            and interpreter_could_not_reach_client(summary["legs"])):
        facts = replace(facts, attendance=ContactOutcome.TECHNICAL_FAILURE)
    for name, provider in (providers or {}).items():
        summary[name] = {str(s.id): await provider(db, s.id) for s in sessions}
    record = await db.scalar(select(ContactRecord).where(
        ContactRecord.appointment_id == appointment_id))
    if record is None:
        record = await _new_record(db, appointment, facts, scheduled_end)
    contact = await db.get(Contact, record.contact_id)
    assert contact is not None
    if record.reviewed_at is None:
        # The practitioner has not confirmed it yet: the system's view stands.
        contact.kind, contact.outcome = facts.contact_kind, facts.attendance
        contact.happened_at = facts.actual_start or appointment.starts_at
    record.call_session_id = sessions[-1].id if sessions else None
    record.status, record.attendance, record.modality = (
        facts.status, facts.attendance, facts.modality)
    record.actual_start, record.actual_end = facts.actual_start, facts.actual_end
    record.summary, record.built_at = summary, now()
    await push(db, contact, record, "contact_record.completed")  # to the case system
    return record


async def _new_record(db: AsyncSession, appointment: Appointment, facts: RecordFacts,
                      scheduled_end: datetime) -> ContactRecord:
    contact = Contact(client_id=appointment.client_id,
                      practitioner_id=appointment.practitioner_id,
                      appointment_id=appointment.id, kind=facts.contact_kind,
                      happened_at=facts.actual_start or appointment.starts_at,
                      outcome=facts.attendance, notes="", sensitive=False, created_at=now(),
                      created_by_id=appointment.practitioner_id)
    db.add(contact)
    await db.flush()
    record = ContactRecord(appointment_id=appointment.id, contact_id=contact.id,
                           client_id=appointment.client_id,
                           practitioner_id=appointment.practitioner_id, status=facts.status,
                           attendance=facts.attendance, modality=facts.modality,
                           scheduled_start=appointment.starts_at, scheduled_end=scheduled_end,
                           summary={}, built_at=now())
    db.add(record)
    await db.flush()
    audit.record(db, None, "contact_record.create", "contact_record", record.id,
                 client_id=appointment.client_id, appointment=appointment.id,
                 attendance=facts.attendance.value)
    return record


async def build_now(maker: async_sessionmaker[AsyncSession], appointment_id: int,
                    providers: dict[str, SummaryProvider]) -> None:
    """Build in a transaction of its own; a failure is logged (the sweeper tries again)."""
    try:
        async with maker.begin() as db:
            await build(db, appointment_id, providers)
    except IntegrityError:
        log.info("record of appointment %s was built concurrently", appointment_id)
    except Exception:
        log.exception("could not build the record of appointment %s", appointment_id)


# --- sessions nobody closed --------------------------------------------------------------------

async def _close(db: AsyncSession, session: CallSession, at: datetime, kind: str,
                 reason: str) -> None:
    """End a session nobody ended: everyone still in it gets an event; nobody stays connected."""
    session.ended_at = at
    people = await db.scalars(select(Participant).where(
        Participant.appointment_id == session.appointment_id,
        or_(Participant.state.in_((ParticipantState.WAITING, ParticipantState.ADMITTED)),
            Participant.connection_id.is_not(None))).with_for_update())
    for person in people:
        db.add(ParticipantEvent(appointment_id=session.appointment_id,
                                call_session_id=session.id, participant_id=person.id,
                                kind=kind, at=at, detail={"reason": reason}))
        person.connection_id = None
        if person.role is ParticipantRole.PRACTITIONER:
            person.state, person.state_since = ParticipantState.LEFT, at
        elif person.state is ParticipantState.ADMITTED:
            # After a crash the client waits to be let in again, so the policy is asked again.
            person.state, person.state_since = (
                (ParticipantState.WAITING, at) if kind == "interrupted"
                else (ParticipantState.ENDED, at))


async def _last_heard(db: AsyncSession, where: Any, otherwise: datetime) -> datetime:
    """The time of the newest event matching `where`."""
    at: datetime | None = await db.scalar(select(ParticipantEvent.at).where(where)
                                          .order_by(ParticipantEvent.id.desc()).limit(1))
    return at or otherwise


async def close_interrupted(db: AsyncSession, session: CallSession, at: datetime,
                            reason: str) -> None:
    """In the caller's transaction: a session cut off because its process was stopped or
    killed, and nobody rejoined in time, ends at `at` (when anything was last heard)."""
    await _close(db, session, at, "interrupted", reason)


async def close_abandoned(maker: async_sessionmaker[AsyncSession], at: datetime) -> list[int]:
    """End live sessions nobody has been connected to for `ABANDONED_AFTER`."""
    closed: list[int] = []
    async with maker.begin() as db:
        connected = exists().where(Participant.appointment_id == CallSession.appointment_id,
                                   Participant.connection_id.is_not(None))
        for session in await db.scalars(select(CallSession).where(
                CallSession.ended_at.is_(None), ~connected).with_for_update()):
            heard = await _last_heard(
                db, ParticipantEvent.appointment_id == session.appointment_id,
                session.started_at)
            if at - heard >= ABANDONED_AFTER:
                await _close(db, session, heard, "ended", "abandoned")
                closed.append(session.appointment_id)
    return closed


async def stale(maker: async_sessionmaker[AsyncSession], at: datetime) -> list[int]:
    """Appointments whose record is missing or older than their last ended session, and
    remote appointments whose time passed with no session at all."""
    async with maker() as db:
        # Sessions that ended within the look-back: the table grows for ever, the pass not.
        newest_end = (select(CallSession.appointment_id,
                             func.max(CallSession.ended_at).label("ended"))
                      .where(CallSession.ended_at > at - MISSED_LOOKBACK)
                      .group_by(CallSession.appointment_id).subquery())
        open_session = exists().where(CallSession.appointment_id == Appointment.id,
                                      CallSession.ended_at.is_(None))
        still_open = exists().where(CallSession.appointment_id == newest_end.c.appointment_id,
                                    CallSession.ended_at.is_(None))
        unbuilt = await db.scalars(
            select(newest_end.c.appointment_id)
            .outerjoin(ContactRecord, ContactRecord.appointment_id == newest_end.c.appointment_id)
            .where(newest_end.c.ended.is_not(None), ~still_open,
                   or_(ContactRecord.id.is_(None), ContactRecord.built_at < newest_end.c.ended)))
        ids = set(unbuilt)
        # The scheduled end depends on each row's duration: narrowed here, decided below.
        starts = Appointment.starts_at
        missed = await db.execute(
            select(Appointment.id, Appointment.starts_at, Appointment.duration_minutes)
            .outerjoin(ContactRecord, ContactRecord.appointment_id == Appointment.id)
            .where(Appointment.kind == AppointmentKind.REMOTE,
                   Appointment.cancelled_at.is_(None), ContactRecord.id.is_(None),
                   starts > at - MISSED_LOOKBACK, starts < at, ~open_session))
        for appointment_id, starts_at, minutes in missed.all():
            if starts_at + timedelta(minutes=minutes) + MISSED_AFTER <= at:
                ids.add(appointment_id)
    return sorted(ids)


async def sweep(maker: async_sessionmaker[AsyncSession],
                providers: dict[str, SummaryProvider]) -> list[int]:
    """One pass: abandoned sessions ended, missing records built. Returns what was built."""
    at = now()
    await close_abandoned(maker, at)
    built = await stale(maker, at)
    for appointment_id in built:
        await build_now(maker, appointment_id, providers)
    return built


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the rooms'): build what is missing, then sweep regularly.

    Sessions a stopped process left open are not closed here: other processes may still
    hold them, and people may rejoin (`signalling/liveness.py` decides)."""
    maker = app[keys.DB]
    providers = app[RECORD_SUMMARIES]
    await sweep(maker, providers)
    pending: set[asyncio.Task[None]] = set()

    async def on_end(appointment_id: int) -> None:
        # Its own task: a handler cancelled because its browser went away must not take
        # the record with it.
        task = asyncio.create_task(build_now(maker, appointment_id, providers))
        pending.add(task)
        task.add_done_callback(pending.discard)
        await asyncio.shield(task)

    rooms = app.get(keys.LIVE_ROOMS)
    if rooms is not None:
        rooms.session_ended.append(on_end)
    sweeper = asyncio.create_task(_sweeper(app))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        if pending:
            await asyncio.wait(tuple(pending), timeout=10.0)


async def _sweeper(app: web.Application) -> None:
    every = app[keys.SETTINGS].records_sweep_seconds
    while True:
        await asyncio.sleep(every)
        try:
            await sweep(app[keys.DB], app[RECORD_SUMMARIES])
        except Exception:  # a bad pass must not stop the next one
            log.exception("contact record sweep failed")


# --- the practitioner's part ---------------------------------------------------------------------

















