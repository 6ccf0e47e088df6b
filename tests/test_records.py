"""Contact records: written when a session ends, from real WebSocket sessions; missed
appointments; a restart mid-session; the practitioner's edits and their history."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.app import create_app
from server.casework import decisions
from server.clock import now
from server.records import building as records
from server.store.models import (
    Appointment,
    AppointmentKind,
    CallSession,
    Contact,
    ContactRecord,
    ContactVersion,
    Participant,
    ParticipantEvent,
    ParticipantState,
)
from tests.calls import client_peer, joined_peer, practitioner_peer, remote_call


async def record_of(db: Any, appointment_id: int, within: float = 5.0,
                    status: str | None = None) -> ContactRecord:
    """The appointment's record, once written (the end hook runs after the reply)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with db() as s:
            row: ContactRecord | None = await s.scalar(select(ContactRecord).where(
                ContactRecord.appointment_id == appointment_id))
        if row is not None and (status is None or row.status == status):
            return row
        if loop.time() > deadline:
            raise AssertionError(f"no record for appointment {appointment_id} (last: {row})")
        await asyncio.sleep(0.05)


def close_to(text: str | None, moment: datetime, seconds: float = 1.0) -> bool:
    assert text is not None
    return abs((datetime.fromisoformat(text.replace("Z", "+00:00")) - moment)
               .total_seconds()) <= seconds


def near(value: datetime | None, moment: datetime, seconds: float = 1.0) -> bool:
    assert value is not None
    return abs((value - moment).total_seconds()) <= seconds


async def _admit(doctor: Any, person: Any) -> int:
    client_id: int = person.seen[0]["you"]["id"]
    roster = await doctor.expect("roster")
    while not next((p for p in roster["participants"] if p["id"] == client_id),
                   {}).get("checklist", {}).get("complete"):
        roster = await doctor.expect("roster")
    await doctor.send(type="admit", participant=client_id)
    await person.expect("admitted")
    return client_id


# --- a full session --------------------------------------------------------------------------

async def _until_disconnects(db, participant_id: int, count: int) -> None:
    for _ in range(100):
        async with db() as s:
            seen = len((await s.scalars(select(ParticipantEvent).where(
                ParticipantEvent.participant_id == participant_id,
                ParticipantEvent.kind == "disconnected"))).all())
        if seen >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} disconnections of {participant_id} never recorded")


async def test_full_session_writes_the_exact_record(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             starts_in=timedelta(minutes=-10))
    doctor = await practitioner_peer(client, call.appointment.id)
    started = now()
    person = await client_peer(client, call.client_token)
    joined = now()
    client_id = await _admit(doctor, person)
    admitted = now()
    await person.send(type="media", audio=True, video=False)
    await doctor.expect("media")
    await asyncio.sleep(0.3)  # most of the call without the camera
    # The client's network drops, then the page reconnects holding its peer connections.
    await person.ws.close()
    await doctor.expect("roster")
    person = await joined_peer(client, person.session, resume=True)
    await person.expect("welcome")
    await person.send(type="leave")
    assert await person.closed() == 1000
    left = now()
    await person.close()
    # The server records the closed connection in a task of its own: let it land before the
    # end, so the order of events is the order of what happened.
    await _until_disconnects(db, client_id, 2)
    await doctor.send(type="end")
    ended = now()
    await doctor.expect("ended")

    record = await record_of(db, call.appointment.id)
    # The camera went off at once: an audio-only contact.
    assert (record.status, record.attendance.value, record.modality) == (
        "ended", "attended", "audio")
    assert near(record.actual_start, admitted) and near(record.actual_end, ended)
    assert record.scheduled_start == call.appointment.starts_at
    assert record.scheduled_end == call.appointment.starts_at + timedelta(minutes=30)
    assert record.reviewed_at is None
    people = {p["role"]: p for p in record.summary["people"]}
    them = people["client"]
    assert close_to(them["joined_at"], joined) and close_to(them["admitted_at"], admitted)
    assert close_to(them["left_at"], left)
    assert {k: them[k] for k in ("how_left", "late", "late_minutes", "left_early",
                                 "dropped_connections", "reconnects", "video", "id")} == {
        "how_left": "left", "late": True, "late_minutes": 10, "left_early": True,
        "dropped_connections": 1, "reconnects": 1, "video": False, "id": client_id}
    me = people["practitioner"]
    assert close_to(me["joined_at"], started) and me["how_left"] == "ended"
    assert close_to(me["left_at"], ended) and me["late"] is False
    events = [(e["role"], e["kind"]) for e in record.summary["events"]]
    assert events[:-2] == [
        ("practitioner", "started"), ("practitioner", "joined"),
        ("client", "joined"), ("client", "admitted"), ("client", "media"),
        ("client", "disconnected"), ("client", "reconnected"), ("client", "left"),
        ("client", "disconnected")]
    # Ending the session writes "ended" for everyone not already gone for good.
    assert sorted(events[-2:]) == [("client", "ended"), ("practitioner", "ended")]
    assert [(d["point"], d["outcome"], d["participant"]) for d in record.summary["decisions"]] \
        == [("admit", "allowed", client_id)]
    checklists = {c["role"]: c for c in record.summary["checklists"]}
    assert set(checklists) == {"client", "practitioner_premises"}
    assert checklists["client"]["passed"] and checklists["client"]["answers"][
        "client.private"] is True
    # The record keeps each question as the person saw it, in the language it was shown in.
    assert checklists["client"]["questions"]["client.not_driving_confirmed"] == \
        "You are not driving. Is that right?"
    assert checklists["client"]["language"] == "en"
    # Nothing was recorded, and the record says so (the recording summary provider).
    assert record.summary["recording"] == {str(record.call_session_id): {
        "recorded": False, "requests": [], "consent_events": []}}
    assert [s["id"] for s in record.summary["sessions"]] == [record.call_session_id]

    async with db() as s:
        contact = await s.get(Contact, record.contact_id)
        assert contact is not None
        assert (contact.kind.value, contact.outcome.value, contact.appointment_id) == (
            "audio", "attended", call.appointment.id)
        # It counts as an attended remote contact for the policy rules.
        facts = await decisions.contact_facts(s, call.client.id)
    remote = [f for f in facts if f.remote]
    assert len(remote) == 1 and remote[0].attended
    await doctor.close()


async def test_everyone_leaving_ends_the_session(
        client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await _admit(doctor, person)
    await asyncio.sleep(0.3)  # some time with the camera on: most of the call on video
    await person.send(type="leave")
    await person.closed()
    await doctor.send(type="leave")
    await doctor.closed()
    record = await record_of(db, call.appointment.id)
    assert (record.status, record.attendance.value, record.modality) == (
        "everyone_left", "attended", "video")
    async with db() as s:
        contact = await s.get(Contact, record.contact_id)
        session = await s.get(CallSession, record.call_session_id)
    assert contact is not None and contact.kind.value == "video"
    assert session is not None and session.ended_at is not None
    await person.close()
    await doctor.close()


# --- a client who never comes ------------------------------------------------------------------

async def test_client_who_never_joins_a_held_session_failed_to_attend(
        client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    await doctor.send(type="end")
    await doctor.expect("ended")
    record = await record_of(db, call.appointment.id)
    assert (record.status, record.attendance.value, record.modality) == (
        "ended", "failed_to_attend", "none")
    async with db() as s:
        facts = await decisions.contact_facts(s, call.client.id)
    remote = [f for f in facts if f.remote]
    assert len(remote) == 1 and not remote[0].attended
    await doctor.close()


async def test_appointment_passing_without_anyone_failed_to_attend(client, db, world):
    alice, a1 = world.users["alice"], world.clients["a1"]
    async with db.begin() as s:
        missed = Appointment(client_id=a1.id, practitioner_id=alice.id,
                             kind=AppointmentKind.REMOTE, starts_at=now() - timedelta(hours=2),
                             duration_minutes=30, created_at=now() - timedelta(days=1))
        later = Appointment(client_id=a1.id, practitioner_id=alice.id,
                            kind=AppointmentKind.REMOTE, starts_at=now() + timedelta(hours=2),
                            duration_minutes=30, created_at=now())
        cancelled = Appointment(client_id=a1.id, practitioner_id=alice.id,
                                kind=AppointmentKind.REMOTE,
                                starts_at=now() - timedelta(hours=3), duration_minutes=30,
                                created_at=now(), cancelled_at=now() - timedelta(days=1))
        s.add_all([missed, later, cancelled])
    assert await records.sweep(db, {}) == [missed.id]
    record = await record_of(db, missed.id)
    assert (record.status, record.attendance.value) == ("not_held", "failed_to_attend")
    assert record.actual_start is None and record.summary["people"] == []
    async with db() as s:
        contact = await s.get(Contact, record.contact_id)
    assert contact is not None and contact.outcome.value == "failed_to_attend"
    assert contact.happened_at == missed.starts_at
    # A second pass finds nothing left to do.
    assert await records.sweep(db, {}) == []


# --- a restart mid-session ---------------------------------------------------------------------

async def test_restart_mid_session_leaves_an_interrupted_record(
        client, db, settings, world, login, aiohttp_client):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await _admit(doctor, person)
    in_call = now()
    await person.session.close()
    await client.server.close()  # the server stops (drains) with the session open
    async with db() as s:
        open_sessions = (await s.scalars(select(CallSession).where(
            CallSession.appointment_id == call.appointment.id))).all()
    assert [x.ended_at for x in open_sessions] == [None]

    # A new server on the same database; nobody rejoins within the grace period (none here).
    await aiohttp_client(create_app(dataclasses.replace(settings, reconnect_grace_seconds=0)))
    record = await record_of(db, call.appointment.id, within=60.0)
    assert (record.status, record.attendance.value) == ("interrupted", "attended")
    assert near(record.actual_end, in_call, 2.0)
    kinds = [(e["role"], e["kind"]) for e in record.summary["events"]]
    assert ("client", "interrupted") in kinds and ("practitioner", "interrupted") in kinds
    async with db() as s:
        people = (await s.scalars(select(Participant).where(
            Participant.appointment_id == call.appointment.id))).all()
    # Nobody is left connected; the client must be let in again (the policy asked again).
    assert all(p.connection_id is None for p in people)
    assert {p.role.value: p.state for p in people} == {
        "practitioner": ParticipantState.LEFT, "client": ParticipantState.WAITING}


async def test_abandoned_session_is_ended_by_the_sweeper(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    await doctor.ws.close()
    await asyncio.sleep(0.2)
    assert await records.close_abandoned(db, now()) == []  # not long enough yet
    later = now() + records.ABANDONED_AFTER + timedelta(seconds=1)
    assert await records.close_abandoned(db, later) == [call.appointment.id]
    assert await records.sweep(db, {}) == [call.appointment.id]
    record = await record_of(db, call.appointment.id)
    assert (record.status, record.attendance.value) == ("abandoned", "failed_to_attend")


# --- summary providers ---------------------------------------------------------------------

async def test_summary_providers_add_their_section(db, world):
    alice, a1 = world.users["alice"], world.clients["a1"]
    async with db.begin() as s:
        appointment = Appointment(client_id=a1.id, practitioner_id=alice.id,
                                  kind=AppointmentKind.REMOTE,
                                  starts_at=now() - timedelta(hours=1), duration_minutes=30,
                                  created_at=now())
        s.add(appointment)
        await s.flush()
        s.add(CallSession(appointment_id=appointment.id, started_at=now() - timedelta(hours=1),
                          started_by_id=alice.id, ended_at=now() - timedelta(minutes=50)))

    async def recording_summary(s: Any, call_session_id: int) -> dict[str, Any]:
        return {"recorded": False, "session": call_session_id}

    await records.sweep(db, {"recording": recording_summary})
    record = await record_of(db, appointment.id)
    (session_id, summary), = record.summary["recording"].items()
    assert summary == {"recorded": False, "session": int(session_id)}


# --- the practitioner's outcome and notes --------------------------------------------------

async def put(staff: Any, path: str, body: Any, headers: Any = None) -> Any:
    return await staff.client.put(path, json=body, headers={"X-CSRF-Token": staff.csrf})


@pytest.fixture
async def finished(client, db, settings, world, login):
    staff = await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    await doctor.send(type="end")
    await doctor.expect("ended")
    await doctor.close()
    return staff, await record_of(db, call.appointment.id)


async def test_edits_keep_every_previous_version(client, db, finished):
    staff, record = finished
    path = f"/api/v1/contacts/{record.contact_id}"
    response = await put(staff, path, {"outcome": "rescheduled", "notes": "Rang to move",
                                            "sensitive": False}, headers={})
    assert response.status == 200, await response.text()
    response = await put(staff, path, {"outcome": "rescheduled", "kind": "phone",
                                            "notes": "Held by phone instead",
                                            "sensitive": True})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["outcome"], body["kind"], body["sensitive"]) == ("rescheduled", "phone", True)
    async with db() as s:
        versions = (await s.scalars(select(ContactVersion).where(
            ContactVersion.contact_id == record.contact_id)
            .order_by(ContactVersion.version))).all()
        row = await s.get(ContactRecord, record.id)
    assert [(v.version, v.outcome.value, v.kind.value, v.notes, v.sensitive)
            for v in versions] == [
        (1, "failed_to_attend", "video", "", False),
        (2, "rescheduled", "video", "Rang to move", False)]
    assert row is not None and row.reviewed_at is not None
    history = await (await client.get(f"/api/v1/contacts/{record.contact_id}/history")).json()
    assert [v["notes"] for v in history["items"]] == ["Rang to move", ""]


async def test_edit_refuses_bad_input_and_other_practitioners(client, db, world, finished,
                                                              login):
    staff, record = finished
    path = f"/api/v1/contacts/{record.contact_id}"
    bad = await put(staff, path, {"outcome": "maybe", "notes": ""})
    assert bad.status == 422
    assert (await bad.json())["errors"][0]["field"] == "outcome"
    in_person = await put(staff, path, {"outcome": "attended", "kind": "face_to_face",
                                             "notes": ""})
    assert in_person.status == 422
    other = await login(world.users["bob"])
    assert (await put(other, path, {"outcome": "attended", "notes": ""})).status == 404
    boss = await login(world.users["sue"])
    assert (await put(boss, path, {"outcome": "attended", "notes": ""})).status == 403


# --- call quality from the browsers ---------------------------------------------------------

async def test_stats_are_validated_rate_limited_and_kept_aggregated(
        client, db, settings, world, login, monkeypatch):
    from signalling import quality

    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await _admit(doctor, person)
    me = doctor.seen[0]["you"]["id"]
    sample = {"peer": me, "rtt_ms": 40, "packets_received": 990, "packets_lost": 10,
              "kbps_in": 800, "kbps_out": 600}
    await person.send(type="stats", peers=[dict(sample, rtt_ms=-1)])
    bad = await person.error("invalid_message")
    assert bad["errors"][0]["field"] == "peers.0.rtt_ms"
    await person.send(type="stats", peers=[sample])
    await person.send(type="ping")
    await person.expect("pong")
    await person.send(type="stats", peers=[sample])  # too soon after the last one
    assert "at most every" in (await person.error("rate_limited"))["message"]
    monkeypatch.setattr(quality, "MIN_INTERVAL", 0.0)
    await person.send(type="stats", peers=[dict(sample, rtt_ms=80, packets_lost=30,
                                                 packets_received=970, kbps_in=400)])
    await person.send(type="ping")
    await person.expect("pong")
    await doctor.send(type="end")
    await doctor.expect("ended")
    record = await record_of(db, call.appointment.id)
    (mine,) = record.summary["quality"]
    assert mine == {"participant": person.seen[0]["you"]["id"], "role": "client",
                    "session": record.call_session_id, "samples": 2, "rtt_ms_avg": 60,
                    "rtt_ms_max": 80, "loss_percent": 2.0, "kbps_in_avg": 600,
                    "kbps_out_avg": 600, "kbps_in_min": 400}
    await person.close()
    await doctor.close()


# --- the pages ---------------------------------------------------------------------------------

async def test_open_record_reminder_form_and_history_on_the_pages(client, db, finished):
    staff, record = finished
    caseload = await staff.get("/caseload")
    text = await caseload.text()
    assert "1 contact record needs your outcome and notes" in text
    assert f'href="/contacts/{record.contact_id}"' in text
    page = await staff.get(f"/contacts/{record.contact_id}")
    body = await page.text()
    assert page.status == 200
    assert "This record is open" in body and "failed to attend" in body
    assert "no session was opened" not in body and "the practitioner ended it" in body
    saved = await staff.post_form(f"/contacts/{record.contact_id}", {
        "outcome": "failed_to_attend", "kind": "video", "notes": "No answer by phone either.",
        "sensitive": "on"})
    assert saved.status == 303
    assert saved.headers["Location"] == f"/contacts/{record.contact_id}?saved=1"
    body = await (await staff.get(f"/contacts/{record.contact_id}?saved=1")).text()
    assert "Saved." in body and "Earlier versions" in body and "This record is open" not in body
    assert "No answer by phone either." in body
    assert "contact record needs" not in await (await staff.get("/caseload")).text()
    bad = await staff.post_form(f"/contacts/{record.contact_id}", {"outcome": "gone",
                                                                   "notes": ""})
    assert bad.status == 422 and "There is a problem" in await bad.text()
    async with db() as s:
        contact = await s.get(Contact, record.contact_id)
    assert contact is not None and contact.sensitive and contact.notes.startswith("No answer")
