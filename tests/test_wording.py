"""What a new user met on the way, fixed: each message reads as a person would say it."""

from __future__ import annotations

from typing import Any

from tests.calls import remote_call
from tests.conftest import World


async def test_a_refused_link_says_each_reason_once_and_no_approval_for_a_block(
        client: Any, db: Any, settings: Any, world: World, login: Any) -> None:
    staff = await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a2"],
                             face_to_face=False)
    response = await staff.post_json(
        f"/api/v1/appointments/{call.appointment.id}/invitations", {"role": "client"})
    assert response.status == 409
    problem = await response.json()
    detail = problem["detail"]
    for error in problem["errors"]:
        assert detail.count(error["message"]) == 1, detail
    assert "senior probation officer" not in detail and "approve" not in detail
    assert [e["rule"] for e in problem["errors"]] == ["in_person_first"]


async def test_a_blocked_remote_appointment_page_offers_only_what_can_work(
        client: Any, db: Any, settings: Any, world: World, login: Any) -> None:
    staff = await login(world.users["alice"])
    call = await remote_call(db, settings, world.users["alice"], world.clients["a2"],
                             face_to_face=False)
    a2 = world.clients["a2"].id
    html = await (await staff.get(
        f"/clients/{a2}?created=appointment&appointment={call.appointment.id}")).text()
    assert "Saved: a remote appointment on" in html and "Saved.</p>" not in html
    assert "no video session can be held for it" in html
    assert f'href="/appointments/{call.appointment.id}/call"' not in html
    assert "senior probation officer" not in html
    assert f'href="/clients/{a2}/appointments/new?kind=in_person"' in html
    form = await (await staff.get(f"/clients/{a2}/appointments/new?kind=in_person")).text()
    assert 'value="in_person" checked' in form


async def test_checklist_answers_read_as_the_person_saw_them(
        client: Any, db: Any, settings: Any, world: World, login: Any) -> None:
    from datetime import timedelta

    from server.clock import now
    from server.store.models import Contact, ContactKind, ContactOutcome, ContactRecord

    alice = world.users["alice"]
    call = await remote_call(db, settings, alice, world.clients["a1"])
    async with db.begin() as s:
        contact = Contact(client_id=call.client.id, practitioner_id=alice.id,
                          kind=ContactKind.VIDEO, happened_at=now() - timedelta(hours=1),
                          outcome=ContactOutcome.ATTENDED, notes="", sensitive=False,
                          created_at=now(), created_by_id=alice.id,
                          appointment_id=call.appointment.id)
        s.add(contact)
        await s.flush()
        s.add(ContactRecord(
            appointment_id=call.appointment.id, contact_id=contact.id,
            client_id=call.client.id, practitioner_id=alice.id, status="ended",
            attendance=ContactOutcome.ATTENDED, modality="video",
            scheduled_start=call.appointment.starts_at,
            scheduled_end=call.appointment.starts_at + timedelta(minutes=30),
            built_at=now(), summary={
                "people": [], "events": [], "decisions": [], "quality": [], "recording": {},
                "checklists": [{"participant": 1, "role": "client", "complete": True,
                                "passed": False, "policy_version": "x", "answered_at": None,
                                "answers": {"client.private": True,
                                            "client.not_driving_confirmed": False}}]}))
        contact_id = contact.id
    staff = await login(alice)
    html = await (await staff.get(f"/contacts/{contact_id}")).text()
    assert "client.not_driving" not in html and "client.private" not in html
    assert ("You are not driving. Is that right? <strong>No</strong> "
            "<span class=\"tag\">not safe</span>") in html


async def test_plural_forms_and_field_labels(client: Any, db: Any, settings: Any,
                                             world: World, login: Any) -> None:
    import aiohttp

    from tests.calls import CSRF_FIELD

    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    url = client.make_url(f"/join/{call.client_token}")
    said = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        for _ in range(settings.invitation_max_attempts - 1):
            match = CSRF_FIELD.search(await (await browser.get(url)).text())
            assert match
            wrong = await browser.post(url, data={"csrf_token": match.group(1), "day": "3",
                                                  "month": "2", "year": "1991"})
            said.append(await wrong.text())
    assert "You can try 2 more times." in said[-2]
    assert "You can try 1 more time." in said[-1]

    staff = await login(world.users["alice"])
    response = await staff.post_form(f"/clients/{world.clients['a1'].id}/appointments", {
        "kind": "remote", "starts_at": "2020-01-01T10:00", "duration_minutes": "30"})
    html = await response.text()
    assert response.status == 422
    summary = html.split("error-summary")[1].split("</div>")[0]
    assert "Date and time: in the past" in summary and "starts_at:" not in summary


async def test_dashboard_charts_have_a_key_and_a_scale(client: Any, world: World,
                                                       login: Any) -> None:
    sue = await login(world.users["sue"])
    html = await (await sue.get("/dashboard")).text()
    legend = html.split('class="chart-legend"')[1].split("</ul>")[0]
    for name in ("face to face", "remote", "failed to attend", "technical failure"):
        assert name in legend
    assert 'text-anchor="end">1 contacts</text>' in html or " contacts</text>" in html
    assert " ms</text>" in html  # the call-quality chart's scale


async def test_a_supervisors_caseload_says_it_is_the_team(client: Any, world: World,
                                                          login: Any) -> None:
    sue = await login(world.users["sue"])
    html = await (await sue.get("/caseload")).text()
    assert "Your team&#39;s clients" in html or "Your team's clients" in html
    alice = await login(world.users["alice"])
    assert "Your team" not in await (await alice.get("/caseload")).text()
