"""Recording over real WebSockets: asking, consenting, withdrawing, late joiners, bad input."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from consent.wording import KEEP_VERSION
from media.sealed import KeyRing
from policies.policy import OnWithdrawal, RecordingRule
from server.casework.keys import POLICIES
from server.store.models import ConsentEventRow, Recording, RecordingState
from signalling.keys import DESK
from tests.calls import client_peer, practitioner_peer, remote_call
from tests.recording import (
    consent_all,
    media_files,
    recording_settings,
    settled,
    three_way,
)
from tests.test_signalling_schema import validator


@pytest.fixture
def settings(database_url, tmp_path):
    return recording_settings(database_url, tmp_path / "recordings")


async def _recordings(db):
    async with db() as s:
        return list(await s.scalars(select(Recording).order_by(Recording.id)))


async def _ledger(db):
    async with db() as s:
        return list(await s.scalars(select(ConsentEventRow).order_by(ConsentEventRow.id)))


async def _ask(room) -> int:
    await room.doctor.send(type="record")
    status = await room.doctor.expect("recording", state="asking")
    assert sorted(status["waiting_for"]) == sorted(room.ids.values())
    return status["request"]


# --- the happy path -----------------------------------------------------------------------------

async def test_everyone_says_yes_then_recording_runs(client, app, db, settings, world, login,
                                                     tmp_path):
    room = await three_way(client, db, settings, world, login)
    request = await _ask(room)
    prompts = [await p.expect("consent-prompt", request=request) for p in room.peers]
    wording = prompts[0]["wording"]
    assert wording["language"] == "en" and len(wording["sha256"]) == 64
    assert "30 days" in " ".join(wording["paragraphs"])
    for peer, prompt in zip(room.peers, prompts, strict=True):
        await peer.send(type="consent", request=request, answer="yes",
                        wording=prompt["wording"]["sha256"])
    for peer in room.peers:
        status = await peer.expect("recording", state="recording")
        assert status["waiting_for"] == []
    [row] = await _recordings(db)
    assert row.state is RecordingState.RECORDING and len(row.segments) == 1
    assert row.key_id == "k1"
    ledger = await _ledger(db)
    # Three connections answer at once: the ledger holds each "yes", in whatever order the
    # server received them.
    assert sorted((e.participant_id, e.kind) for e in ledger) == sorted(
        (room.ids[r], "given") for r in ("practitioner", "client", "interpreter"))
    assert {e.wording_sha256 for e in ledger} == {wording["sha256"]}
    assert {(e.wording_version, e.language, e.purpose) for e in ledger} == {
        (wording["version"], "en", "recording")}
    # The recorder waits for the browsers' own offers: nothing is on disk without them.
    assert media_files(tmp_path / "recordings") == []
    # Every message sent matches the published schema.
    schema = validator("FromServer")
    for peer in room.peers:
        for message in peer.seen:
            schema.validate(message)
    await room.close()


async def test_withdrawal_stops_and_discards(client, app, db, settings, world, login, tmp_path):
    room = await three_way(client, db, settings, world, login)
    request = await _ask(room)
    await consent_all(room.peers, request)
    await room.client.expect("recording", state="recording")
    await room.client.send(type="withdraw", request=request)
    for peer in room.peers:
        status = await peer.expect("recording", state="stopped")
        assert status["reason"] == "withdrawn"
    await settled(db, request, deleted=True)
    [row] = await _recordings(db)
    assert row.state is RecordingState.STOPPED and row.segments[0]["stopped"] is not None
    # Default policy: what was recorded before a withdrawal is discarded.
    assert row.deleted_at is not None and row.deleted_reason == "withdrawn"
    assert app[DESK].recorder.peer_count() == 0 and not app[DESK].recorder.live
    assert media_files(tmp_path / "recordings") == []
    # Withdrawing again, or consenting to the finished request, is refused.
    await room.interp.send(type="consent", request=request, answer="yes", wording="0" * 64)
    await room.interp.error("wording_mismatch")
    await room.interp.send(type="withdraw", request=request)
    await room.interp.error("unknown_request")
    await room.close()


async def test_a_keeping_policy_is_in_the_wording_and_what_was_recorded_stays(
        client, app, db, settings, world, login, tmp_path):
    store = app[POLICIES]  # no stored version: the shipped default is in force
    store.default = dataclasses.replace(store.default, recording=RecordingRule(
        on_withdrawal=OnWithdrawal.KEEP))
    room = await three_way(client, db, settings, world, login)
    await room.doctor.send(type="record")  # generous waits: the machine may be loaded
    request = (await room.doctor.expect("recording", within=30, state="asking"))["request"]
    prompt = (await room.client.expect("consent-prompt", within=30,
                                       request=request))["wording"]
    assert prompt["version"] == KEEP_VERSION
    assert "not deleted at once" in prompt["paragraphs"][-1]
    for peer in room.peers:
        said = [m for m in peer.seen if m["type"] == "consent-prompt"]
        shown = said[-1] if said else await peer.expect("consent-prompt", within=30)
        await peer.send(type="consent", request=request, answer="yes",
                        wording=shown["wording"]["sha256"])
    await room.client.expect("recording", within=30, state="recording")
    await room.client.send(type="withdraw", request=request)
    await room.doctor.expect("recording", within=30, state="stopped")
    row = await settled(db, request)
    assert row.stopped_reason == "withdrawn" and row.deleted_at is None
    assert row.wording_version == KEEP_VERSION
    await room.close()


async def test_one_no_stops_the_request_and_a_new_one_can_be_asked(client, db, settings,
                                                                    world, login):
    room = await three_way(client, db, settings, world, login)
    request = await _ask(room)
    prompt = await room.client.expect("consent-prompt")
    await room.client.send(type="consent", request=request, answer="no",
                           wording=prompt["wording"]["sha256"])
    status = await room.doctor.expect("recording", state="stopped")
    assert status["reason"] == "declined"
    again = await _ask(room)
    assert again != request
    await room.close()


async def test_late_joiner_pauses_until_they_agree(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    me = person.seen[0]["you"]["id"]
    await doctor.send(type="admit", participant=me)
    await person.expect("admitted")
    await doctor.send(type="record")
    request = (await doctor.expect("recording", state="asking"))["request"]
    await consent_all([doctor, person], request)
    await doctor.expect("recording", state="recording")

    from tests.recording import INTERPRETER_CHECKS
    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS)
    # A waiting person is told a recording is running before being let in.
    late = interp.seen[0]["you"]["id"]
    await doctor.send(type="admit", participant=late)
    status = await doctor.expect("recording", state="paused")
    assert status["waiting_for"] == [late]
    await consent_all([interp], request)
    await doctor.expect("recording", state="recording")
    [row] = await db_rows(db)
    assert len(row.segments) == 2 and row.segments[0]["stopped"] is not None
    for peer in (interp, person, doctor):
        await peer.close()


async def db_rows(db):
    return await _recordings(db)


async def test_ending_the_call_stops_recording(client, db, settings, world, login):
    room = await three_way(client, db, settings, world, login)
    request = await _ask(room)
    await consent_all(room.peers, request)
    await room.doctor.expect("recording", state="recording")
    await room.doctor.send(type="end")
    await room.client.expect("recording", state="stopped")
    [row] = await _recordings(db)
    assert row.state is RecordingState.STOPPED and row.stopped_reason == "ended"
    await room.close()


# --- refused -------------------------------------------------------------------------------------

async def test_policy_forbids_recording(client, app, db, settings, world, login):
    room = await three_way(client, db, settings, world, login)
    store = app[POLICIES]  # no stored version: the shipped default is in force
    store.default = dataclasses.replace(store.default, recording=RecordingRule(allowed=False))
    await room.doctor.send(type="record")
    error = await room.doctor.error("recording_not_allowed")
    assert "policy" in error["message"]
    assert await _recordings(db) == []
    await room.close()


async def test_no_key_no_recording(client, app, db, settings, world, login):
    room = await three_way(client, db, settings, world, login)
    app[DESK].recorder.keys = KeyRing({}, "")
    await room.doctor.send(type="record")
    error = await room.doctor.error("recording_unavailable")
    assert "key" in error["message"]
    assert await _recordings(db) == []
    await room.close()


async def test_bad_consent_messages(client, db, settings, world, login):
    room = await three_way(client, db, settings, world, login)
    await room.client.send(type="record")
    await room.client.error("not_allowed")
    request = await _ask(room)
    prompt = await room.client.expect("consent-prompt")
    sha = prompt["wording"]["sha256"]
    # another request id (forged, or another session's)
    await room.client.send(type="consent", request=request + 100, answer="yes", wording=sha)
    await room.client.error("unknown_request")
    # a forged wording hash
    await room.client.send(type="consent", request=request, answer="yes", wording="f" * 64)
    await room.client.error("wording_mismatch")
    # not a hash at all
    await room.client.send(type="consent", request=request, answer="yes", wording="yes")
    error = await room.client.error("invalid_message")
    assert error["errors"][0]["field"] == "wording"
    await room.client.send(type="consent", request=request, answer="maybe", wording=sha)
    await room.client.error("invalid_message")
    # a replay of a real answer
    await room.client.send(type="consent", request=request, answer="yes", wording=sha)
    await room.doctor.expect("recording", state="asking")
    await room.client.send(type="consent", request=request, answer="yes", wording=sha)
    await room.client.error("consent_repeated")
    # the recorder refuses offers while not everyone has said yes
    await room.client.send(type="recorder-offer", request=request, sdp="v=0")
    await room.client.error("recorder_refused")
    # a second request while one is open
    await room.doctor.send(type="record")
    await room.doctor.error("recording_active")
    assert len(await _ledger(db)) == 1
    await room.close()


async def test_consent_from_someone_not_admitted(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="record")
    request = (await doctor.expect("recording", state="asking"))["request"]
    await person.send(type="consent", request=request, answer="yes", wording="a" * 64)
    await person.error("not_admitted")
    await person.send(type="withdraw", request=request)
    await person.error("not_admitted")
    assert await _ledger(db) == []
    for peer in (person, doctor):
        await peer.close()


async def test_consent_for_another_sessions_request(client, db, settings, world, login):
    """A request of an earlier session of the same appointment cannot be answered now."""
    room = await three_way(client, db, settings, world, login)
    old = await _ask(room)
    await room.doctor.send(type="end")
    await room.client.closed()
    await room.interp.closed()
    await room.doctor.close()
    doctor = await practitioner_peer(client, room.doctor.seen[0]["session"]["appointment"],
                                     resume=False)
    await doctor.send(type="consent", request=old, answer="yes", wording="a" * 64)
    error = await doctor.expect("error", ref="consent")
    assert error["code"] in ("unknown_request", "wording_mismatch")
    await doctor.send(type="withdraw", request=old)
    await doctor.error("unknown_request")
    [row] = await _recordings(db)
    assert row.id == old and row.state is RecordingState.STOPPED
    assert await _ledger(db) == []
    await doctor.close()
