"""Live calls in real browsers: practitioner, client and interpreter in headless Chromium with
fake camera and microphone, through the real pages, the real signalling server and real
WebRTC on loopback. Media counts only when inbound RTP bytes keep rising on every side."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server import keys
from server.clock import now
from server.settings import Settings
from server.store.models import Invitation, Participant, ParticipantEvent
from tests.browser.calls import (
    admit,
    drop_signalling,
    joined,
    media_flows,
    open_link,
    phase,
    practitioner_page,
    safe_answers,
    state,
    stats,
)
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser


async def test_two_way_call_made_from_the_invite_panel(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    assert await prac.get_by_role("heading", level=1).inner_text() == \
        f"Video session with {person.full_name}"

    # The practitioner makes the client's link on the page (this revokes the fixture's one).
    await prac.get_by_role("button", name="Create link").click()
    link = prac.get_by_label("Link", exact=True)
    await link.wait_for()
    url = await link.input_value()
    assert "/join/" in url
    assert await prac.get_by_role("status").inner_text() == "Link created."

    client = await joined(new_context, url)
    await phase(client, "waiting")
    assert "Waiting for your probation officer" in await client.get_by_role("status").inner_text()

    waiting = prac.locator("#lobby-list li")
    await waiting.filter(has_text="Safe-space check: all confirmed").wait_for()
    await admit(prac, person.full_name)
    await phase(client, "in")

    for page in (prac, client):
        await media_flows(page, peers=1)
    # Both see both tiles, named.
    assert await prac.locator("#tiles li").count() == 2
    await client.locator("#tiles li", has_text=f"{alice.name} (probation officer)").wait_for()

    # The remote video really plays on each side.
    for page in (prac, client):
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#tiles li:not(.me) video')]"
            ".some(v => v.videoWidth > 0 && v.currentTime > 0)")

    # Audio only: the client stops sending video; the practitioner's video bytes stop rising
    # while audio keeps flowing; and back.
    await client.get_by_role("button", name="Audio only").click()
    await prac.locator("#tiles li", has_text="camera off").wait_for()
    before = (await stats(prac))[0]
    await prac.wait_for_timeout(1500)
    after = (await stats(prac))[0]
    assert after["audioBytes"] > before["audioBytes"]
    assert after["videoBytes"] - before["videoBytes"] < 5_000, (before, after)
    await client.get_by_role("button", name="Audio only").click()
    await media_flows(prac, peers=1)

    # Muting shows on the other side.
    await client.get_by_role("button", name="Mute microphone").click()
    await prac.locator("#tiles li", has_text="microphone off").wait_for()
    assert await client.get_by_role("button", name="Unmute microphone").get_attribute(
        "aria-pressed") == "true"

    # The practitioner ends the session for everyone, after confirming.
    await prac.get_by_role("button", name="End session for everyone").click()
    await prac.get_by_role("dialog").get_by_role("button", name="Yes").click()
    await phase(client, "final")
    assert await client.get_by_role("heading", name="The session has ended").is_visible()
    assert (await state(prac))["final"] == "ended"


async def test_three_way_call_with_an_interpreter(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await phase(client, "waiting")
    let_in = await prac.get_by_role("button", name=f"Let in: {person.full_name}").element_handle()
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await phase(interpreter, "waiting")
    await prac.get_by_role("button", name="Let in: Ines Interpreter").wait_for()
    # The lobby's update for the interpreter left the client's entry alone: a press on its
    # "Let in" while the list changes still lets in the client (#13).
    assert await let_in.evaluate("b => b.isConnected")

    await admit(prac, person.full_name)
    await phase(client, "in")
    await admit(prac, "Ines Interpreter")
    await phase(interpreter, "in")
    await phase(interpreter, "in")
    for page in (prac, client, interpreter):
        await media_flows(page, peers=2)
        assert await page.locator("#tiles li").count() == 3

    # The interpreter leaves; the other two carry on.
    await interpreter.get_by_role("button", name="Leave").click()
    await interpreter.get_by_role("dialog").get_by_role("button", name="Yes").click()
    await phase(interpreter, "final")
    assert await interpreter.get_by_role("heading", name="You have left the session").is_visible()
    await prac.wait_for_function("() => rapportCall.peers().length === 1")
    await media_flows(client, peers=1)


async def test_waiting_room_refusal_and_a_failed_checklist(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    """Never seen in person: the practitioner cannot let the client in and sees why; turning
    them away tells the client. A failed checklist shows the client the alternatives and the
    practitioner the answers."""
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person,
                             face_to_face=False)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    driving = {**safe_answers("client"), "client.not_driving_confirmed": False}
    client = await joined(new_context, call.client_token, answers=driving)

    alternatives = client.locator("#alternatives li")
    await alternatives.first.wait_for()
    assert "Rebook the appointment face to face." in await alternatives.all_inner_texts()
    await prac.locator("#lobby-list li", has_text="Safe-space check: not safe").wait_for()
    assert "client.not_driving_confirmed" in await prac.locator("#lobby-list li").inner_text()

    await admit(prac, person.full_name)
    refused = prac.locator("#lobby-refused")
    await refused.wait_for()
    text = await refused.inner_text()
    assert "in person" in text.lower(), text
    assert (await state(client))["me"]["state"] == "waiting"

    await prac.get_by_role("button", name=f"Turn away: {person.full_name}").click()
    await phase(client, "final")
    assert await client.get_by_role("heading", name="You were not let in").is_visible()
    async with live_server.db() as db:
        kinds = (await db.scalars(select(ParticipantEvent.kind).join(
            Participant, Participant.id == ParticipantEvent.participant_id).where(
            Participant.appointment_id == call.appointment.id))).all()
    assert "denied" in kinds and "admitted" not in kinds


async def test_wrong_birth_dates_lock_the_link_and_tell_the_practitioner(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await open_link(new_context, call.client_token, birth=(1991, 2, 3))
    await page.get_by_text("does not match our records. You can try 4 more times").wait_for()
    for _attempt in range(4):
        await page.get_by_label("Day").fill("3")
        await page.get_by_label("Month").fill("2")
        await page.get_by_label("Year").fill("1991")
        await page.get_by_role("button", name="Continue").click()
        await page.wait_for_load_state()
    assert "locked" in (await page.locator("main").inner_text()).lower()
    await prac.get_by_role("status").filter(has_text="locked").wait_for()
    # Even the right date no longer works on this link.
    again = await (await new_context()).new_page()
    response = await again.goto(f"/join/{call.client_token}")
    assert response is not None and response.status == 404
    assert await again.get_by_label("Day").count() == 0


async def test_expired_and_revoked_links(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person,
                             interpreter=True)
    # The client joins and waits; then the practitioner makes a new client link: the old one
    # stops working and the person who used it is out of the room.
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await phase(client, "waiting")
    await prac.get_by_role("button", name="Create link").click()
    await prac.get_by_label("Link", exact=True).wait_for()
    await phase(client, "final")
    assert await client.get_by_role("heading", name="You are no longer in the session")\
        .is_visible()
    revisit = await (await new_context()).new_page()
    response = await revisit.goto(f"/join/{call.client_token}")
    assert response is not None and response.status == 404

    # The interpreter's link has expired.
    async with live_server.db.begin() as db:
        await db.execute(update(Invitation).where(Invitation.role == "interpreter").values(
            valid_until=now() - timedelta(minutes=1)))
    assert call.interpreter_token is not None
    response = await revisit.goto(f"/join/{call.interpreter_token}")
    assert response is not None and response.status == 404
    assert "no longer works" in (await revisit.locator("main").inner_text()).lower() or \
        "not work" in (await revisit.locator("main").inner_text()).lower()


async def test_dropped_network_and_reload_keep_admission(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await admit(prac, person.full_name)
    await phase(client, "in")
    await media_flows(client, peers=1)
    me = (await state(client))["me"]["id"]
    epoch_before = (await prac.evaluate("() => rapportCall.peers()"))[0]["epoch"]

    # The client's signalling connection drops (TCP reset, no close frame). The page
    # reconnects by itself, resumes, and is still in: no waiting room, same peer connection.
    await drop_signalling(live_server, call.appointment.id, me)
    await client.get_by_role("status").filter(has_text="Reconnecting").wait_for()
    await client.wait_for_function("() => rapportCall.state().socket === WebSocket.OPEN "
                                   "&& rapportCall.state().phase === 'in'", timeout=20_000)
    await media_flows(client, peers=1)
    await media_flows(prac, peers=1)
    assert (await prac.evaluate("() => rapportCall.peers()"))[0]["epoch"] == epoch_before

    # The client reloads the page: admitted again at once, a fresh connection (new epoch).
    await client.reload()
    await phase(client, "in")
    await media_flows(client, peers=1)
    await prac.wait_for_function(
        "before => rapportCall.peers().length === 1 && rapportCall.peers()[0].epoch > before",
        arg=epoch_before)
    await media_flows(prac, peers=1)
    async with live_server.db() as db:
        admissions = (await db.scalars(select(ParticipantEvent.kind).where(
            ParticipantEvent.participant_id == me, ParticipantEvent.kind == "admitted"))).all()
    assert len(admissions) == 1


async def test_a_second_tab_takes_over(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    second = await prac.context.new_page()
    await second.goto(f"/appointments/{call.appointment.id}/call")
    await phase(second, "in")
    await phase(prac, "final")
    assert await prac.get_by_role("heading", name="This session is open somewhere else")\
        .is_visible()


async def test_the_call_page_works_with_the_keyboard_on_a_phone(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    """360 px wide: nothing scrolls sideways; the checklist can be answered with the keyboard
    alone."""
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person)
    context = await new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                has_touch=True)
    page = await context.new_page()
    await page.goto(f"/join/{call.client_token}")
    for label, value in (("Day", "1"), ("Month", "1"), ("Year", "1990")):
        await page.get_by_label(label).fill(value)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/join")
    # The journey by keyboard: "Continue" after how we use your information, then the
    # questions two to a screen; on each screen Tab moves from one question to the next and
    # then to "Next" (or "Confirm" on the last), and Enter takes it.
    await page.get_by_role("heading", name="How we use your information").wait_for()
    await page.locator("#journey-privacy-next").focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Before you start").wait_for()
    answers = list(safe_answers("client").values())
    first = page.locator("#checklist-items fieldset.item:not(.later) input").first
    await first.focus()
    for index, value in enumerate(answers):
        # In each group, arrow keys move between Yes and No; Tab goes to the next group.
        if not value:
            await page.keyboard.press("ArrowDown")
        else:
            await page.keyboard.press("Space")
        await page.keyboard.press("Tab")
        if index % 2 == 1 or index == len(answers) - 1:
            await page.keyboard.press("Enter")  # Next, or Confirm on the last screen
    await phase(page, "waiting")
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, width


def _settings(live: LiveServer) -> Settings:
    return live.app[keys.SETTINGS]
