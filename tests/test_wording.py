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
