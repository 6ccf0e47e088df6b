"""The policy rules where practitioners meet them: scheduling, making links (issue #4)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from server.clock import now
from server.store.models import Invitation, PolicyDecision
from tests.calls import remote_call


async def test_scheduling_a_remote_session_explains_the_decision(client, db, world, login):
    staff = await login(world.users["alice"])
    client_id = world.clients["a1"].id
    response = await staff.post_json(f"/api/v1/clients/{client_id}/appointments", {
        "kind": "remote", "starts_at": (now() + timedelta(days=2)).isoformat(),
        "duration_minutes": 30})
    assert response.status == 201
    decision = (await response.json())["decision"]
    assert decision["outcome"] == "blocked"
    first = decision["reasons"][0]
    assert first["rule"] == "in_person_first"
    assert first["message"] == "No face-to-face contact has been recorded with this client yet."
    assert first["remedy"] == "Book an in-person appointment first."
    page = await staff.get(f"/clients/{client_id}")
    text = await page.text()
    assert "Remote session not allowed" in text
    assert "Book an in-person appointment first." in text
    in_person = await staff.post_json(f"/api/v1/clients/{client_id}/appointments", {
        "kind": "in_person", "starts_at": (now() + timedelta(days=3)).isoformat(),
        "duration_minutes": 30})
    assert (await in_person.json())["decision"] is None
    async with db() as s:
        stored = (await s.scalars(select(PolicyDecision))).all()
        assert [(d.point, d.outcome) for d in stored] == [("schedule", "blocked")]


async def test_no_link_is_made_while_the_policy_blocks(client, db, settings, world, login):
    staff = await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a2"],
                             face_to_face=False)
    response = await staff.post_json(
        f"/api/v1/appointments/{call.appointment.id}/invitations", {"role": "client"})
    assert response.status == 409
    problem = await response.json()
    assert problem["errors"][0]["rule"] == "in_person_first"
    assert "Book an in-person appointment first." in problem["detail"]
    async with db() as s:
        links = (await s.scalars(select(Invitation).where(
            Invitation.appointment_id == call.appointment.id))).all()
        assert len(links) == 1 and links[0].revoked_at is None  # the old link still stands
        points = [d.point for d in (await s.scalars(select(PolicyDecision))).all()]
        assert points == ["mint"]


async def _very_high_risk(db, client_id):
    from server.store.models import Client, RoshLevel

    async with db.begin() as s:
        row = await s.get(Client, client_id)
        row.rosh_level = RoshLevel.VERY_HIGH


async def test_supervisor_approval_lets_a_needs_approval_session_be_admitted(
        client, db, settings, world, login):
    from tests.calls import client_peer, practitioner_peer

    a1 = world.clients["a1"]
    await _very_high_risk(db, a1.id)
    staff = await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], a1)
    page = await (await staff.get(f"/clients/{a1.id}")).text()
    assert "Needs a senior probation officer" in page and "Ask a supervisor" in page
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, call.client_token)
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    refused = await doctor.error("admission_refused")
    assert refused["reasons"][0]["rule"] == "risk.very_high_rosh"
    await doctor.close()
    await person.close()

    asked = await staff.post_form(f"/clients/{a1.id}/approvals", {"note": "Works nights."})
    assert asked.status == 303
    again = await staff.post_form(f"/clients/{a1.id}/approvals", {"note": "twice"})
    assert again.status == 409

    boss = await login(world.users["sue"])
    listing = await (await boss.get("/approvals")).text()
    assert "Client CRNA1" in listing and "Works nights." in listing
    async with db() as s:
        from server.store.models import ApprovalRequest

        request_id = (await s.scalars(select(ApprovalRequest.id))).one()
    short = await boss.post_form(f"/approvals/{request_id}/decide", {
        "decision": "approve", "rationale": "ok", "expires_on": ""})
    assert short.status == 422 and "at least 20 characters" in await short.text()
    too_long = await boss.post_form(f"/approvals/{request_id}/decide", {
        "decision": "approve", "rationale": "Reviewed the risk plan with the practitioner.",
        "expires_on": (now() + timedelta(days=400)).date().isoformat()})
    assert too_long.status == 422 and "at most 90 days" in await too_long.text()
    approved = await boss.post_form(f"/approvals/{request_id}/decide", {
        "decision": "approve", "rationale": "Reviewed the risk plan with the practitioner.",
        "expires_on": (now() + timedelta(days=30)).date().isoformat()})
    assert approved.status == 303
    twice = await boss.post_form(f"/approvals/{request_id}/decide", {
        "decision": "refuse", "rationale": "Changed my mind about this one entirely."})
    assert twice.status == 409

    await login(world.users["alice"])
    doctor = await practitioner_peer(client, call.appointment.id)
    person = await client_peer(client, (await _new_link(client, call)))
    await doctor.send(type="admit", participant=person.seen[0]["you"]["id"])
    await person.expect("admitted")
    await doctor.close()
    await person.close()


async def _new_link(client, call):
    from tests.conftest import page_csrf

    csrf = await page_csrf(client, "/account")
    response = await client.post(f"/api/v1/appointments/{call.appointment.id}/invitations",
                                 json={"role": "client"}, headers={"X-CSRF-Token": csrf})
    assert response.status == 201, await response.text()
    return (await response.json())["link"].rsplit("/", 1)[1]


async def test_only_a_supervisor_of_the_team_decides_and_never_for_their_own_client(
        client, db, world, login):
    staff = await login(world.users["carol"])
    assert (await staff.post_form(f"/clients/{world.clients['c1'].id}/approvals",
                                  {"note": ""})).status == 303
    boss = await login(world.users["sue"])  # team A; carol is in team B
    listing = await (await boss.get("/approvals")).text()
    assert "CRNC1" not in listing
    from server.store.models import ApprovalRequest

    async with db() as s:
        request_id = (await s.scalars(select(ApprovalRequest.id))).one()
    response = await boss.post_form(f"/approvals/{request_id}/decide", {
        "decision": "approve", "rationale": "Looks fine to me, reviewed the file.",
        "expires_on": (now() + timedelta(days=10)).date().isoformat()})
    assert response.status == 404
    practitioner = await login(world.users["alice"])
    assert (await practitioner.get("/approvals")).status == 403
