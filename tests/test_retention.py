"""Retention: each kind goes when its period is over, a dry run deletes nothing, every
deletion is audited, and pruning the audit log leaves a chain that still verifies."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from server import keys
from server.clock import now
from server.privacy import retention
from server.settings import Settings
from server.store import audit
from server.store.auditchain import PRUNE_ACTION
from server.store.models import (
    AuditEvent,
    ChecklistResponse,
    Contact,
    Invitation,
    Participant,
    ParticipantEvent,
    ParticipantRole,
)
from tests.audit_helpers import rapport_cli, write_entries
from tests.calls import remote_call

YEAR = timedelta(days=365)


async def _seed(db, settings, world):
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    async with db.begin() as s:
        invitation = await s.scalar(select(Invitation))
        person = Participant(appointment_id=call.appointment.id, invitation_id=invitation.id,
                             role=ParticipantRole.CLIENT, name="Client A1", secret_hash="0" * 64,
                             state_since=now(), created_at=now(), expires_at=now())
        s.add(person)
        await s.flush()
        s.add(ParticipantEvent(appointment_id=call.appointment.id, participant_id=person.id,
                               kind="joined", at=now(), detail={}))
        s.add(ChecklistResponse(participant_id=person.id, appointment_id=call.appointment.id,
                                role="client", answers={"client.private": True}, complete=True,
                                passed=True, policy_version="v", answered_at=now()))
    await write_entries(db, 3, client_id=world.clients["a1"].id)


async def _count(db, model) -> int:
    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_dry_run_lists_and_deletes_nothing(db, settings, world):
    await _seed(db, settings, world)
    before = await _count(db, AuditEvent)
    done = await retention.sweep(db, settings, dry_run=True, now=now() + 2 * YEAR)
    by_kind = {s.kind: s.items for s in done}
    assert by_kind["invitations"] and by_kind["participants"]
    assert by_kind["contacts"] == [] and by_kind["audit"] == []
    assert await _count(db, Invitation) == 1 and await _count(db, Participant) == 1
    assert await _count(db, AuditEvent) == before


async def test_each_kind_goes_after_its_period_and_is_audited(db, settings, world):
    await _seed(db, settings, world)
    await retention.sweep(db, settings, now=now() + 2 * YEAR)
    for model in (Invitation, Participant, ParticipantEvent, ChecklistResponse):
        assert await _count(db, model) == 0, model
    assert await _count(db, Contact) == 1  # six years
    async with db() as s:
        logged = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "retention.delete"))).all()
        assert {e.target_type for e in logged} == {"invitations", "participants"}
        # Each deletion shows in the client's own access log.
        assert {e.client_id for e in logged} == {world.clients["a1"].id}
        assert "participant event" in " ".join(
            d for e in logged for d in e.detail["deleted"])
        assert (await audit.verify(s))[1] is None


async def test_pruning_the_audit_log_leaves_a_verifiable_checkpoint(db, settings, world):
    await _seed(db, settings, world)
    done = await retention.sweep(db, settings, now=now() + 8 * YEAR)
    assert {s.kind: s.count for s in done}["contacts"] == 1
    async with db() as s:
        rows = (await s.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
        verifier, broken = await audit.verify(s)
    assert [r.action for r in rows] == [PRUNE_ACTION]
    assert rows[0].detail["upto_seq"] == rows[0].seq - 1
    assert broken is None and verifier.count == 1
    # The chain goes on from the checkpoint.
    await write_entries(db, 2)
    async with db() as s:
        assert (await audit.verify(s))[1] is None
    ok = await asyncio.to_thread(rapport_cli, settings.database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr


async def test_a_registered_kind_is_swept_and_audited(db, settings):
    seen = []

    async def recordings(s, moment, *, dry_run):
        seen.append((moment, dry_run))
        return ["recording 7"]

    retention.register("recordings", recordings)
    try:
        done = await retention.sweep(db, settings)
    finally:
        retention.EXTRA_KINDS.pop("recordings")
    assert done[-1].kind == "recordings" and done[-1].items == ["recordings recording 7"]
    assert seen and seen[0][1] is False
    async with db() as s:
        assert await s.scalar(select(AuditEvent).where(AuditEvent.target_type == "recordings"))


async def test_cli_dry_run_lists_what_would_go(db, settings, world):
    await _seed(db, settings, world)
    result = await asyncio.to_thread(rapport_cli, settings.database_url, "retention", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "contacts: would delete 0" in result.stdout
    assert await _count(db, Invitation) == 1


async def test_sweeper_runs_in_background_and_stops_cleanly(database_url, aiohttp_client,
                                                           monkeypatch):
    from server.app import create_app

    swept = asyncio.Event()

    async def probe(s, moment, *, dry_run):
        swept.set()
        return 0

    monkeypatch.setattr(retention, "FIRST_SWEEP_SECONDS", 0.05)
    monkeypatch.setitem(retention.EXTRA_KINDS, "probe", probe)
    settings = Settings(database_url=database_url, migrate_on_start=False, log_json=False,
                        retention_sweep_minutes=60)
    app = create_app(settings)
    client = await aiohttp_client(app)
    task = app[keys.RETENTION_TASK]
    assert task is not None
    await asyncio.wait_for(swept.wait(), timeout=30)
    assert not task.done()  # it sleeps until the next sweep
    await client.close()
    assert task.cancelled()


def test_retention_settings_are_checked():
    import pytest

    from server.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="RETENTION_INVITATION_DAYS"):
        load_settings({"RAPPORT_RETENTION_INVITATION_DAYS": "-1"})
    with pytest.raises(SettingsError, match="RETENTION_AUDIT_DAYS"):
        load_settings({"RAPPORT_RETENTION_AUDIT_DAYS": "10"})


async def test_contacts_and_people_go_with_what_hangs_on_them(db, settings, world):
    """Records, edit history and call quality never block a deletion (foreign keys)."""
    from server.store.models import (
        CallQuality,
        CallSession,
        ChatMessage,
        ConsentEventRow,
        ContactKind,
        ContactOutcome,
        ContactRecord,
        ContactVersion,
        PrecallCheck,
        Recording,
        RecordingState,
    )

    await _seed(db, settings, world)
    async with db.begin() as s:
        contact = await s.scalar(select(Contact))
        person = await s.scalar(select(Participant))
        session = CallSession(appointment_id=person.appointment_id, started_at=now(),
                              started_by_id=world.users["alice"].id)
        s.add(session)
        await s.flush()
        s.add(ContactRecord(
            appointment_id=person.appointment_id, contact_id=contact.id,
            client_id=contact.client_id, practitioner_id=contact.practitioner_id,
            call_session_id=session.id, status="ended", attendance=ContactOutcome.ATTENDED,
            modality="video", scheduled_start=now(), scheduled_end=now(), summary={},
            built_at=now()))
        s.add(ContactVersion(contact_id=contact.id, version=1, kind=ContactKind.FACE_TO_FACE,
                             outcome=ContactOutcome.ATTENDED, happened_at=now(), notes="before",
                             sensitive=False, replaced_at=now(),
                             replaced_by_id=world.users["alice"].id))
        s.add(CallQuality(call_session_id=session.id, participant_id=person.id, first_at=now(),
                          last_at=now()))
        # A recording whose files are gone, and the client's answer about it.
        spent = Recording(
            appointment_id=person.appointment_id, call_session_id=session.id,
            requested_by_id=person.id, requested_at=now(), purpose="recording",
            wording_version="v1", state=RecordingState.STOPPED, segments=[],
            retention_until=now(), deleted_at=now())
        s.add(spent)
        await s.flush()
        s.add(ConsentEventRow(
            appointment_id=person.appointment_id, call_session_id=session.id,
            recording_id=spent.id, participant_id=person.id, purpose="recording", kind="given",
            wording_version="v1", wording_sha256="0" * 64, language="en", at=now()))
        s.add(PrecallCheck(appointment_id=person.appointment_id, participant_id=person.id,
                           verdict="weak", camera=True, microphone=True, created_at=now()))
        # The session's chat is part of the contact (#14): it goes with the record.
        s.add(ChatMessage(appointment_id=person.appointment_id, participant_id=person.id,
                          author_name="Client", author_role="client", body="hello",
                          sent_at=now()))
    assert await _count(db, ChatMessage) == 1
    await retention.sweep(db, settings, now=now() + 7 * YEAR)
    for model in (Contact, ContactRecord, ContactVersion, CallQuality, Participant, Recording,
                  ConsentEventRow, PrecallCheck, ChatMessage):
        assert await _count(db, model) == 0, model


async def test_consent_stays_while_its_recording_is_held(db, settings, world):
    """A person's answer about a recording is kept as long as the recording is."""
    from server.store.models import CallSession, ConsentEventRow, Recording, RecordingState

    await _seed(db, settings, world)
    async with db.begin() as s:
        person = await s.scalar(select(Participant))
        session = CallSession(appointment_id=person.appointment_id, started_at=now(),
                              started_by_id=world.users["alice"].id)
        s.add(session)
        await s.flush()
        held = Recording(
            appointment_id=person.appointment_id, call_session_id=session.id,
            requested_by_id=person.id, requested_at=now(), purpose="recording",
            wording_version="v1", state=RecordingState.STOPPED, segments=[],
            retention_until=now() + 10 * YEAR)
        s.add(held)
        await s.flush()
        s.add(ConsentEventRow(
            appointment_id=person.appointment_id, call_session_id=session.id,
            recording_id=held.id, participant_id=person.id, purpose="recording", kind="given",
            wording_version="v1", wording_sha256="0" * 64, language="en", at=now()))
    await retention.sweep(db, settings, now=now() + 2 * YEAR)
    assert await _count(db, Participant) == 1
    assert await _count(db, ConsentEventRow) == 1 and await _count(db, Recording) == 1


async def test_retention_page_previews_and_runs_the_schedule(db, settings, world, login):
    await _seed(db, settings, world)
    admin = await login(world.users["adam"])
    page = await admin.get("/privacy/retention")
    text = await page.text()
    assert page.status == 200 and "Contacts and their records" in text
    assert "retention_contact_days" not in text and "<li>invitation " not in text  # words
    assert await _count(db, Invitation) == 1  # a preview deletes nothing
    dpo = await login(world.users["olive"])
    done = await dpo.post_form("/privacy/retention")
    assert done.status == 303 and done.headers["Location"].startswith("/privacy/retention?done=")
    async with db() as s:
        actions = [(e.action, e.actor_id) for e in (await s.scalars(
            select(AuditEvent).order_by(AuditEvent.seq))).all()]
    assert ("retention.preview", world.users["adam"].id) in actions
    assert ("retention.run", world.users["olive"].id) in actions
