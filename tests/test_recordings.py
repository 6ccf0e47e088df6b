"""After the call: playback and download for the session's practitioner and their supervisor
only, each access audited; the retention sweeper; the summary for the contact record."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import av
from sqlalchemy import select

from server import keys
from server.clock import now
from server.recordings.lifecycle import delete_expired_recordings, recording_summary
from server.store.models import Appointment, AppointmentKind, AuditEvent, ContactRecord, Recording
from tests.calls import client_peer, practitioner_peer, remote_call
from tests.recording import RECORDING_FILE, consent_all, sealed_recording, settled


async def _recording(db, app, world, **kw) -> tuple[int, Path]:
    async with db.begin() as s:
        appointment = Appointment(
            client_id=world.clients["a1"].id, practitioner_id=world.users["alice"].id,
            kind=AppointmentKind.REMOTE, starts_at=now(), duration_minutes=30, created_at=now())
        s.add(appointment)
        await s.flush()
        rid = await sealed_recording(s, app, appointment, **kw)
        row = await s.get(Recording, rid)
        assert row is not None and row.file_path
        folder = Path(app[keys.SETTINGS].recordings_dir) / row.file_path
    return rid, folder


async def _audits(db, action):
    async with db() as s:
        return list(await s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_the_practitioner_plays_it_back_and_it_is_audited(client, app, db, world, login):
    rid, _folder = await _recording(db, app, world, seconds=2.0)
    staff = await login(world.users["alice"])
    meta = await staff.get(f"/api/v1/recordings/{rid}")
    assert meta.status == 200
    body = await meta.json()
    assert body["state"] == "stopped" and [f["name"] for f in body["files"]] == [RECORDING_FILE]
    download = await staff.get(body["files"][0]["download"])
    assert download.status == 200
    assert download.headers["Content-Type"] == "video/webm"
    assert download.headers["Cache-Control"] == "no-store"
    # The streamed download carries every security header too (outside test defect 2).
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                   "X-Request-Id"):
        assert header in download.headers, header
    data = await download.read()
    with av.open(io.BytesIO(data)) as container:
        assert {s.type: s.codec_context.name for s in container.streams} == {
            "video": "vp8", "audio": "opus"}
        # Written as a stream, served with its length and seek index (media/seek_index.py).
        assert container.duration is not None and 1.8e6 <= container.duration <= 2.2e6
        last = max(float(p.pts * p.time_base) for p in container.demux() if p.pts is not None)
    assert 1.8 <= last <= 2.1
    [view] = await _audits(db, "recording.view")
    [down] = await _audits(db, "recording.download")
    assert view.actor_id == down.actor_id == world.users["alice"].id
    assert down.target_id == str(rid) and down.detail["file"] == RECORDING_FILE
    assert down.client_id == world.clients["a1"].id


async def test_only_the_holder_and_their_supervisor(client, app, db, world, login):
    rid, _folder = await _recording(db, app, world)
    for name, status in [("sue", 200), ("bob", 404), ("carol", 404), ("adam", 403)]:
        staff = await login(world.users[name])
        response = await staff.get(f"/api/v1/recordings/{rid}")
        assert response.status == status, name
        download = await staff.get(f"/api/v1/recordings/{rid}/download?file={RECORDING_FILE}")
        assert download.status == status, name
        if status != 200:
            assert download.headers["Content-Type"].startswith("application/problem+json")
    assert len(await _audits(db, "recording.download")) == 1  # sue's, and nobody else's


async def test_bad_file_names_and_ids(client, app, db, world, login):
    rid, _folder = await _recording(db, app, world)
    staff = await login(world.users["alice"])
    for path in (f"/api/v1/recordings/{rid}/download?file=../../etc/passwd",
                 f"/api/v1/recordings/{rid}/download", "/api/v1/recordings/99999",
                 "/api/v1/recordings/abc"):
        response = await staff.get(path)
        assert response.status == 404, path
        assert (await response.json())["detail"]


async def test_a_tampered_file_is_refused_naming_the_chunk(client, app, db, world, login):
    rid, folder = await _recording(db, app, world)
    path = folder / RECORDING_FILE
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0xFF  # inside chunk 0's ciphertext
    path.write_bytes(bytes(raw))
    staff = await login(world.users["alice"])
    response = await staff.get(f"/api/v1/recordings/{rid}/download?file={RECORDING_FILE}")
    assert response.status == 500
    problem = await response.json()
    assert "chunk 0 failed authentication" in problem["detail"]


# --- retention ------------------------------------------------------------------------------------

async def test_the_sweeper_deletes_what_has_expired_and_says_so(client, app, db, world):
    old, old_folder = await _recording(db, app, world, retention_days=1)
    young, young_folder = await _recording(db, app, world, retention_days=60)
    later = now() + timedelta(days=2)
    folder = Path(app[keys.SETTINGS].recordings_dir)
    async with db.begin() as s:
        assert await delete_expired_recordings(s, later, dry_run=True, folder=folder) == [old]
    assert old_folder.exists()
    async with db.begin() as s:
        assert await delete_expired_recordings(s, later, dry_run=False, folder=folder) == [old]
    assert not old_folder.exists() and young_folder.exists()
    async with db() as s:
        row = await s.get(Recording, old)
        assert row is not None and row.deleted_at == later and row.deleted_reason == "retention"
    [audit] = await _audits(db, "recording.delete")
    assert audit.target_id == str(old) and audit.detail["reason"] == "retention"
    async with db.begin() as s:  # nothing twice
        assert await delete_expired_recordings(s, later, dry_run=False, folder=folder) == []


# --- for the contact record ----------------------------------------------------------------------

async def test_recording_summary_lists_consent_and_when_it_ran(client, db, settings, world,
                                                               login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    await person.expect("admitted")
    await doctor.send(type="record")
    request = (await doctor.expect("recording", state="asking"))["request"]
    await consent_all([doctor, person], request)
    await doctor.expect("recording", state="recording")
    await person.send(type="withdraw", request=request)
    await doctor.expect("recording", state="stopped")
    await settled(db, request, deleted=True)
    async with db() as s:
        row = await s.get(Recording, request)
        assert row is not None
        summary = await recording_summary(s, row.call_session_id)
    assert summary["recorded"] is True
    [req] = summary["requests"]
    assert req["state"] == "stopped" and req["stopped_reason"] == "withdrawn"
    assert req["deleted_reason"] == "withdrawn"  # default policy: discard on withdrawal
    # Both answers were sent on their own sockets at once: either may be stored first.
    events = [(e["role"], e["kind"]) for e in summary["consent_events"]]
    assert sorted(events[:2]) == [("client", "given"), ("practitioner", "given")]
    assert events[2:] == [("client", "withdrawn")]
    assert all(len(e["wording_sha256"]) == 64 and e["language"] == "en"
               for e in summary["consent_events"])
    await doctor.send(type="end")
    await doctor.expect("ended")
    for peer in (person, doctor):
        await peer.close()
    # The contact record says the same in words.
    record = None
    for _ in range(100):
        async with db() as s:
            record = await s.scalar(select(ContactRecord).where(
                ContactRecord.appointment_id == call.appointment.id))
        if record is not None:
            break
        await asyncio.sleep(0.05)
    assert record is not None
    text = await (await (await login(world.users["alice"])).get(
        f"/contacts/{record.contact_id}")).text()
    assert "Consent and recording" in text and "stopped the recording" in text
    assert "The files were deleted on" in text and "(withdrawn)" in text


async def test_the_recording_page_lists_files_for_those_who_may_see_them(
        client, app, db, world, login):
    rid, _folder = await _recording(db, app, world)
    staff = await login(world.users["alice"])
    page = await staff.get(f"/recordings/{rid}")
    assert page.status == 200
    text = await page.text()
    name = RECORDING_FILE.removesuffix(".sealed")
    assert f"Download {name}" in text
    assert f'href="/api/v1/recordings/{rid}/download?file={RECORDING_FILE}"' in text
    assert "Every view and download is logged." in text
    assert len(await _audits(db, "recording.view")) == 1
    for other, status in [("bob", 404), ("adam", 403)]:
        refused = await (await login(world.users[other])).get(f"/recordings/{rid}")
        assert refused.status == status, other
