"""The signalling WebSocket: admission, relaying, state kept across reconnects, bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from server.clock import now
from server.outbox.keys import TRANSPORTS
from server.store.models import (
    Invitation,
    Participant,
    ParticipantEvent,
    ParticipantState,
    PolicyDecision,
)
from signalling.protocol import MAX_MESSAGE_BYTES
from tests.calls import (
    CLIENT_CHECKS,
    client_peer,
    joined_peer,
    open_link,
    practitioner_peer,
    remote_call,
)
from tests.receivers import until

INTERPRETER_CHECKS = {"interpreter.private": True, "interpreter.confidential": True}


@pytest.fixture
async def call(db, settings, world, login):
    await login(world.users["alice"])
    return await remote_call(db, settings, world.users["alice"], world.clients["a1"])


async def _events(db, appointment_id):
    async with db() as s:
        rows = await s.scalars(select(ParticipantEvent)
                               .where(ParticipantEvent.appointment_id == appointment_id)
                               .order_by(ParticipantEvent.id))
        return [(e.participant_id, e.kind) for e in rows]


async def admitted_pair(client, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    roster = await doctor.expect("roster")
    waiting = [p for p in roster["participants"] if p["role"] == "client"]
    while not waiting or not waiting[0]["checklist"]["complete"]:
        roster = await doctor.expect("roster")
        waiting = [p for p in roster["participants"] if p["role"] == "client"]
    await doctor.send(type="admit", participant=waiting[0]["id"])
    await person.expect("admitted")
    return doctor, person, waiting[0]["id"]


# --- the happy path --------------------------------------------------------------------------

async def test_two_way_call_admission_and_relay(client, db, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    assert person.seen[0]["type"] == "welcome"
    assert [m["type"] for m in person.seen[:2]] == ["welcome", "waiting"]
    roster = await doctor.expect("roster")
    entry = next(p for p in roster["participants"] if p["role"] == "client")
    assert entry["state"] == "waiting" and entry["name"] == "Client CRNA1"
    assert entry["waiting_since"].endswith("Z")
    await doctor.send(type="admit", participant=entry["id"])
    await person.expect("admitted")
    # The roster reaches the person before "admitted", so they know whom to call.
    roster = [m for m in person.seen if m["type"] == "roster"][-1]
    assert {p["role"] for p in roster["participants"]} == {"practitioner", "client"}
    assert all("checklist" not in p for p in roster["participants"])
    me = doctor.seen[0]["you"]["id"]

    await doctor.send(type="offer", to=entry["id"], sdp="v=0 offer")
    assert await person.expect("offer") == {"type": "offer", "sdp": "v=0 offer", "from": me}
    await person.send(type="answer", to=me, sdp="v=0 answer")
    assert (await doctor.expect("answer"))["from"] == entry["id"]
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0",
                 "sdpMLineIndex": 0, "usernameFragment": "abc"}
    await person.send(type="candidate", to=me, candidate=candidate)
    assert (await doctor.expect("candidate"))["candidate"] == candidate
    await person.send(type="candidate", to=me, candidate=None)
    assert (await doctor.expect("candidate"))["candidate"] is None
    await person.send(type="media", audio=False, video=True)
    assert await doctor.expect("media", **{"from": entry["id"]}) == {
        "type": "media", "from": entry["id"], "audio": False, "video": True}

    kinds = await _events(db, call.appointment.id)
    assert (entry["id"], "joined") in kinds and (entry["id"], "admitted") in kinds
    assert (me, "started") in kinds
    await person.close()
    await doctor.close()


async def test_three_way_call_with_interpreter(client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS,
                               name="Ola Nowak")
    assert interp.seen[0]["you"]["name"] == "Ola Nowak"
    assert interp.seen[0]["checklist"]["role"] == "interpreter"
    ids = {m["you"]["role"]: m["you"]["id"] for m in (person.seen[0], interp.seen[0])}
    await doctor.send(type="admit", participant=ids["interpreter"])
    await interp.expect("admitted")
    await doctor.send(type="admit", participant=ids["client"])
    await person.expect("admitted")
    roster = await interp.expect("roster")
    while len(roster["participants"]) < 3:
        roster = await interp.expect("roster")
    await interp.send(type="offer", to=ids["client"], sdp="x")
    assert (await person.expect("offer"))["from"] == ids["interpreter"]
    for peer in (interp, person, doctor):
        await peer.close()


async def test_client_admitted_before_a_waiting_interpreter(client, db, settings, world, login):
    """The interpreter has answered and waits; the practitioner lets the client in first."""
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             interpreter=True)
    doctor = await practitioner_peer(client, call.appointment.id)
    assert call.interpreter_token is not None
    interp = await client_peer(client, call.interpreter_token, checklist=INTERPRETER_CHECKS,
                               name="Ola Nowak")
    person = await client_peer(client, call.client_token)
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    await person.expect("admitted")
    await doctor.send(type="admit", participant=interp.seen[0]["you"]["id"])
    await interp.expect("admitted")
    for peer in (interp, person, doctor):
        await peer.close()


# --- the policy gate at admission (issue #4) --------------------------------------------------

async def test_no_face_to_face_contact_refuses_admission_even_when_admit_is_sent(
        client, db, settings, world, login):
    await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a2"],
                             face_to_face=False)
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    target = person.seen[0]["you"]["id"]
    await doctor.send(type="admit", participant=target)
    refused = await doctor.error("admission_refused")
    assert refused["participant"] == target
    assert refused["reasons"][0]["rule"] == "in_person_first"
    assert "Book an in-person appointment first." in refused["reasons"][0]["remedy"]
    # The client is still waiting and was never told they were admitted.
    await person.send(type="offer", to=doctor.seen[0]["you"]["id"], sdp="x")
    await person.error("not_admitted")
    async with db() as s:
        row = await s.get(Participant, target)
        assert row is not None and row.state is ParticipantState.WAITING
        decision = await s.scalar(select(PolicyDecision))
        assert decision is not None and decision.outcome == "blocked"
        assert "in_person_first" in decision.rule_ids and decision.point == "admit"
    await person.close()
    await doctor.close()


async def test_failed_blocking_checklist_item_refuses_admission(client, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    answers = dict(CLIENT_CHECKS, **{"client.not_driving_confirmed": False})
    person = await client_peer(client, call.client_token, checklist=None)
    await person.send(type="checklist", answers=answers)
    result = await person.expect("checklist-result")
    assert result["passed"] is False and result["failed"] == ["client.not_driving_confirmed"]
    assert {a["id"] for a in result["alternatives"]} == {"rebook_in_person", "phone",
                                                         "reschedule"}
    roster = await doctor.expect("roster")
    while not any(p.get("checklist", {}).get("complete") for p in roster["participants"]):
        roster = await doctor.expect("roster")
    entry = next(p for p in roster["participants"] if p["role"] == "client")
    assert entry["checklist"]["failed"] == ["client.not_driving_confirmed"]
    await doctor.send(type="admit", participant=entry["id"])
    refused = await doctor.error("admission_refused")
    assert {r["rule"] for r in refused["reasons"]} == {"checklist"}
    await person.close()
    await doctor.close()


async def test_missing_checklists_refuse_admission(client, call):
    doctor = await practitioner_peer(client, call.appointment.id, checklist=False)
    person = await client_peer(client, call.client_token, checklist=None)
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    refused = await doctor.error("admission_refused")
    messages = " ".join(r["message"] for r in refused["reasons"])
    assert "client has not answered" in messages and "practitioner has not answered" in messages
    await person.close()
    await doctor.close()


# --- reconnecting -----------------------------------------------------------------------------

async def test_reconnect_keeps_admission(client, db, call):
    doctor, person, target = await admitted_pair(client, call)
    session = person.session
    await person.ws.close()  # the network drops
    while True:
        roster = await doctor.expect("roster")
        if not next(p for p in roster["participants"] if p["id"] == target)["connected"]:
            break
    again = await joined_peer(client, session, resume=True)
    welcome = await again.expect("welcome")
    assert welcome["you"]["state"] == "admitted"
    assert welcome["checklist"]["answered"] is True
    roster = await again.expect("roster")
    assert {p["state"] for p in roster["participants"]} == {"admitted"}
    assert not any(m["type"] == "waiting" for m in again.seen)
    await again.send(type="offer", to=doctor.seen[0]["you"]["id"], sdp="again")
    assert (await doctor.expect("offer"))["sdp"] == "again"
    kinds = [k for p, k in await _events(db, call.appointment.id) if p == target]
    assert kinds[-2:] == ["disconnected", "reconnected"]
    assert kinds.count("admitted") == 1
    await again.close()
    await doctor.close()


async def test_second_tab_replaces_the_first(client, call):
    doctor, person, _target = await admitted_pair(client, call)
    second = await joined_peer(client, person.session)
    welcome = await second.expect("welcome")
    assert welcome["you"]["state"] == "admitted"
    await person.expect("replaced")
    assert await person.closed() == 4409
    await second.send(type="ping")
    await second.expect("pong")
    roster = await doctor.expect("roster")
    assert all(p["connected"] for p in roster["participants"])
    await second.close()
    await doctor.close()


async def test_two_practitioner_tabs_at_once_are_one_participant(client, db, call):
    """Two hellos at the same moment (two tabs, or a page reconnecting while its first hello
    is still being answered) find or make the same participant: never a second "Alice"."""
    origin = str(client.make_url("")).rstrip("/")
    sockets = [await client.ws_connect("/signal", origin=origin) for _ in range(2)]
    for ws in sockets:
        await ws.send_json({"type": "hello", "version": 1, "appointment": call.appointment.id,
                            "resume": False})
    ids = set()
    for ws in sockets:
        async for msg in ws:
            data = json.loads(msg.data)
            if data["type"] == "welcome":
                ids.add(data["you"]["id"])
                break
    for ws in sockets:
        await ws.close()
    async with db() as s:
        rows = list(await s.scalars(select(Participant.id).where(
            Participant.appointment_id == call.appointment.id,
            Participant.user_id.is_not(None))))
    assert len(ids) == 1 and rows == sorted(ids)


# --- the practitioner's acts -------------------------------------------------------------------

async def test_deny_remove_end(client, db, settings, world, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="deny", participant=person.seen[0]["you"]["id"], reason="not now")
    await person.expect("denied")
    assert await person.closed() == 4410
    # The link's person cannot come back after being turned away.
    again = await joined_peer(client, person.session)
    await again.error("session_ended")
    assert await again.closed() == 4410
    await again.close()

    call2 = await remote_call(db, settings, world.users["alice"], world.clients["a2"])
    doctor2 = await practitioner_peer(client, call2.appointment.id)
    person2 = await client_peer(client, call2.client_token)
    await doctor2.send(type="admit", participant=person2.seen[0]["you"]["id"])
    await person2.expect("admitted")
    await doctor2.send(type="remove", participant=person2.seen[0]["you"]["id"])
    await person2.expect("removed")
    assert await person2.closed() == 4410
    await doctor2.send(type="end")
    await doctor2.expect("ended")
    assert await doctor2.closed() == 4410
    kinds = [k for _p, k in await _events(db, call2.appointment.id)]
    assert "removed" in kinds and kinds[-1] == "ended"
    await doctor.close()


async def test_end_reaches_everyone_and_leave_then_rejoin_waits_again(client, db, call):
    doctor, person, target = await admitted_pair(client, call)
    await person.send(type="leave")
    assert await person.closed() == 1000
    again = await joined_peer(client, person.session)
    welcome = await again.expect("welcome")
    assert welcome["you"]["state"] == "waiting"
    await again.expect("waiting")
    await doctor.send(type="admit", participant=target)
    await again.expect("admitted")
    await doctor.send(type="end")
    await again.expect("ended")
    assert await again.closed() == 4410
    async with db() as s:
        row = await s.get(Participant, target)
        assert row is not None and row.state is ParticipantState.ENDED
    await doctor.close()


# --- bad input ------------------------------------------------------------------------------

async def test_bad_messages_get_typed_errors_and_the_connection_stays(client, db, call):
    doctor, person, target = await admitted_pair(client, call)
    me = doctor.seen[0]["you"]["id"]
    await person.send_raw("not json")
    await person.error("bad_json")
    await person.send_raw("[1, 2]")
    await person.error("bad_json")
    await person.send(type="teleport")
    await person.error("unknown_type")
    await person.send(kind="offer")
    await person.error("unknown_type")
    await person.send(type="offer", sdp="x")
    missing = await person.error("invalid_message")
    assert missing["errors"] == [{"field": "to", "problem": "Field required"}]
    await person.send(type="offer", to="alice", sdp=5)
    wrong = await person.error("invalid_message")
    assert {e["field"] for e in wrong["errors"]} == {"to", "sdp"}
    await person.send(type="media", audio="yes", video=True, extra=1)
    await person.error("invalid_message")
    await person.send(type="offer", to=999999, sdp="x")
    await person.error("unknown_participant")
    await person.send(type="offer", to=target, sdp="to myself")
    await person.error("unknown_participant")
    await person.send(type="admit", participant=target)
    await person.error("not_allowed")
    await person.send(type="end")
    await person.error("not_allowed")
    await person.send(type="hello", version=1)
    await person.error("hello_repeated")
    await person.send(type="offer", to=me, sdp="x" * (61 * 1024))
    await person.error("invalid_message")
    await person.send_raw(json.dumps({"type": "offer", "to": me, "sdp": "y" * MAX_MESSAGE_BYTES}))
    await person.error("message_too_large")
    await person.ws.send_bytes(b"\x00\x01")
    await person.error("invalid_message")
    await person.send(type="checklist", answers={"client.flying": True})
    assert "unknown checklist item" in (await person.error("bad_checklist"))["message"]
    await person.send(type="checklist", answers={"practitioner_premises.private_room": True})
    await person.error("bad_checklist")
    await person.send(type="checklist", answers=CLIENT_CHECKS, location="home")
    await person.error("bad_checklist")
    # Still usable, and the room is unaffected.
    await person.send(type="ping")
    await person.expect("pong")
    await person.send(type="offer", to=me, sdp="still here")
    assert (await doctor.expect("offer"))["sdp"] == "still here"
    await person.close()
    await doctor.close()


async def test_waiting_client_cannot_admit_itself_or_send(client, call):
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    mine = person.seen[0]["you"]["id"]
    await person.send(type="admit", participant=mine)
    await person.error("not_allowed")
    await person.send(type="offer", to=doctor.seen[0]["you"]["id"], sdp="x")
    await person.error("not_admitted")
    await person.send(type="media", audio=True, video=False)
    await person.error("not_admitted")
    await doctor.send(type="admit", participant=12345)
    await doctor.error("unknown_participant")
    await doctor.send(type="remove", participant=mine)
    await doctor.error("unknown_participant")
    await person.close()
    await doctor.close()


async def test_flood_is_rate_limited_then_closed(client, call):
    doctor, person, _target = await admitted_pair(client, call)
    for _ in range(260):
        await person.send_raw('{"type":"ping"}')
    limited = await person.error("rate_limited")
    assert "slow down" in limited["message"]
    await doctor.send(type="ping")
    await doctor.expect("pong")
    for _ in range(2100):
        await person.send_raw('{"type":"ping"}')
    assert await person.closed() == 4429
    await doctor.send(type="ping")
    await doctor.expect("pong")
    await person.close()
    await doctor.close()


async def test_handshake_errors(client, call, world, login):
    origin = str(client.make_url("")).rstrip("/")
    ws = await client.ws_connect("/signal", origin=origin)
    await ws.send_json({"type": "ping"})
    assert json.loads((await ws.receive()).data)["code"] == "hello_required"
    assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4400

    ws = await client.ws_connect("/signal", origin=origin)
    await ws.send_json({"type": "hello", "version": 2, "appointment": call.appointment.id})
    assert json.loads((await ws.receive()).data)["code"] == "unsupported_version"
    await ws.receive()
    assert ws.close_code == 4400

    ws = await client.ws_connect("/signal", origin=origin)
    await ws.send_json({"type": "hello", "version": 1})
    assert json.loads((await ws.receive()).data)["errors"][0]["field"] == "appointment"
    await ws.receive()
    assert ws.close_code == 4400

    # Someone else's live appointment and one that does not exist get the same answer, so a
    # signed-in person cannot find out which appointment ids are live (outside test defect 6).
    await login(world.users["bob"])
    answers = []
    for appointment in (call.appointment.id, 987654):
        ws = await client.ws_connect("/signal", origin=origin)
        await ws.send_json({"type": "hello", "version": 1, "appointment": appointment})
        error = json.loads((await ws.receive()).data)
        closing = await ws.receive()
        answers.append((error, closing.data, closing.extra))
    assert answers[0] == answers[1]
    assert answers[0][1] == 4404

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/signal", origin="https://evil.example")
    assert refused.value.status == 403
    client.session.cookie_jar.clear()
    with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
        await client.ws_connect("/signal", origin=origin)
    assert anonymous.value.status == 401


# --- links -------------------------------------------------------------------------------------

async def test_link_is_used_up_and_page_reveals_nothing(client, db, call):
    session, status = await open_link(client, call.client_token)
    assert status == 303
    assert "rapport_participant" in {c.key for c in session.cookie_jar}
    other, status = await open_link(client, call.client_token)
    assert status == 404
    unknown, status = await open_link(client, "no-such-token")
    assert status == 404
    used = await (await other.get(client.make_url(f"/join/{call.client_token}"))).text()
    missing = await (await unknown.get(client.make_url("/join/no-such-token"))).text()
    assert used == missing
    page = await session.get(client.make_url("/join"))
    assert page.status == 200
    for s in (session, other, unknown):
        await s.close()


async def test_wrong_birth_dates_lock_the_link_and_tell_the_practitioner(client, db, settings,
                                                                       call):
    doctor = await practitioner_peer(client, call.appointment.id)
    for _attempt in range(1, settings.invitation_max_attempts):
        session, status = await open_link(client, call.client_token, birth=(1991, 2, 3))
        assert status == 422
        await session.close()
    session, status = await open_link(client, call.client_token, birth=(1991, 2, 3))
    assert status == 404
    locked = await doctor.expect("link-locked")
    assert locked["name"] == "Client CRNA1"
    # Even the right date no longer works.
    late, status = await open_link(client, call.client_token)
    assert status == 404
    async with db() as s:
        row = await s.scalar(select(Invitation).where(
            Invitation.appointment_id == call.appointment.id))
        assert row is not None and row.locked_at is not None
    for s_ in (session, late):
        await s_.close()
    await doctor.close()


async def test_expired_and_revoked_links(client, db, settings, world):
    staff = await __import__("tests.conftest", fromlist=["sign_in"]).sign_in(
        client, world.users["alice"])
    late = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             starts_in=timedelta(hours=-3))
    session, status = await open_link(client, late.client_token)
    assert status == 404
    await session.close()
    soon = await remote_call(db, settings, world.users["alice"], world.clients["a2"])
    created = await staff.post_json(f"/api/v1/appointments/{soon.appointment.id}/invitations",
                                    {"role": "client"})
    assert created.status == 201
    body = await created.json()
    assert body["link"].startswith(settings.base_url + "/join/")
    # The first link was replaced by the new one.
    session, status = await open_link(client, soon.client_token)
    assert status == 404
    await session.close()
    token = body["link"].rsplit("/", 1)[1]
    person_session, status = await open_link(client, token)
    assert status == 303
    revoked = await staff.post_json(f"/api/v1/invitations/{body['id']}/revoke")
    assert revoked.status == 200
    page = await person_session.get(client.make_url("/join"))
    assert page.status == 404
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await person_session.ws_connect(client.make_url("/signal"),
                                        origin=str(client.make_url("")).rstrip("/"))
    await person_session.close()
    assert now()  # the clock is real: windows are checked against it


async def test_invitation_can_be_sent_and_interpreter_needs_a_reason(client, app, db, settings,
                                                                     world, login):

    staff = await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    sent = await staff.post_json(f"/api/v1/appointments/{call.appointment.id}/invitations",
                                 {"role": "client", "send": {"channel": "sms",
                                                             "to": "07700900123"}})
    assert sent.status == 201 and (await sent.json())["sent"] is True
    link = (await sent.json())["link"]
    # The log channel, once an outbox worker has sent it: with the room split over two
    # processes (test_signalling_redis), either process's worker may be the one.
    apps = [app, *([client.other.app] if hasattr(client, "other") else [])]

    async def arrived() -> bool:
        return any(a[TRANSPORTS]["sms"].sent for a in apps)
    await until(arrived, 60, "the outbox to send the link")
    [log] = [a[TRANSPORTS]["sms"].sent for a in apps if a[TRANSPORTS]["sms"].sent]
    assert log[-1].to == "+447700900123" and link in log[-1].text
    interp = await staff.post_json(f"/api/v1/appointments/{call.appointment.id}/invitations",
                                   {"role": "interpreter"})
    assert interp.status == 422
    other = await staff.post_json("/api/v1/appointments/99999/invitations", {"role": "client"})
    assert other.status == 404


async def test_a_client_who_answered_before_the_practitioner_came_can_be_let_in(client, call):
    """Clients often arrive first: their answers count for the session that starts after."""
    person = await client_peer(client, call.client_token)
    assert any(m["type"] == "checklist-result" and m["passed"] for m in person.seen)
    doctor = await practitioner_peer(client, call.appointment.id)
    roster = [m for m in doctor.seen if m["type"] == "roster"][-1]
    waiting = [p for p in roster["participants"] if p["role"] == "client"]
    assert waiting and waiting[0]["checklist"]["complete"], waiting
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    await person.expect("admitted")
    await person.close()
    await doctor.close()
