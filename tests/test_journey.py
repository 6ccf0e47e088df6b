"""The journey before the call, server side: the step a page opens at (where the person left
it), and a link reopened on the same device going straight back to the call page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from server.joining.journey import step_of
from server.store.models import ChecklistResponse, ParticipantRole, PrecallCheck
from tests.calls import CLIENT_CHECKS, joined_peer, open_link, remote_call

STEP = re.compile(r'<section id="call"[^>]* data-step="([a-z]+)"')


@pytest.mark.parametrize(("role", "answered", "checked", "step"), [
    (ParticipantRole.CLIENT, False, False, "privacy"),
    (ParticipantRole.INTERPRETER, False, False, "questions"),
    (ParticipantRole.CLIENT, False, True, "privacy"),  # a check alone is not the questions
    (ParticipantRole.CLIENT, True, False, "check"),
    (ParticipantRole.INTERPRETER, True, False, "check"),
    (ParticipantRole.CLIENT, True, True, "wait"),
])
def test_step_of(role: ParticipantRole, answered: bool, checked: bool, step: str) -> None:
    assert step_of(role, answered, checked) == step


@pytest.fixture
async def call(db, settings, world, login):
    await login(world.users["alice"])
    return await remote_call(db, settings, world.users["alice"], world.clients["a1"])


async def _step(client, session) -> str:
    page = await session.get(client.make_url("/join"))
    assert page.status == 200
    found = STEP.search(await page.text())
    assert found, "the call page of a person who joined by link names its step"
    return found.group(1)


async def test_the_page_opens_where_the_person_left_it(client, db, call):
    session, status = await open_link(client, call.client_token)
    assert status == 303
    try:
        assert await _step(client, session) == "privacy"
        peer = await joined_peer(client, session)
        await peer.expect("welcome")
        await peer.send(type="checklist", answers=CLIENT_CHECKS)
        await peer.expect("checklist-result")
        assert await _step(client, session) == "check"
        async with db.begin() as s:
            response = await s.scalar(select(ChecklistResponse))
            assert response is not None
            s.add(PrecallCheck(appointment_id=response.appointment_id,
                               participant_id=response.participant_id, verdict="good",
                               camera=True, microphone=True, created_at=response.answered_at))
        assert await _step(client, session) == "wait"
        await peer.ws.close()
    finally:
        await session.close()


async def test_reopening_the_link_on_the_same_device_goes_to_the_call_page(client, call):
    session, status = await open_link(client, call.client_token)
    assert status == 303
    try:
        again = await session.get(client.make_url(f"/join/{call.client_token}"),
                                  allow_redirects=False)
        assert again.status == 303 and again.headers["Location"] == "/join"
        # Someone else's cookie, or none, meets a used link.
        other, _ = await open_link(client, call.client_token, birth=None)
        try:
            assert _ == 404
        finally:
            await other.close()
    finally:
        await session.close()
