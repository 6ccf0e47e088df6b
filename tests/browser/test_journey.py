"""The client's journey before the call on a phone (#14): one step per screen, Back works, no
layout shift as steps appear, a reopened link goes straight back to where the person was, the
recording banner turns red only for people actually being recorded, and the consent dialog
stays readable and answerable at 360 px and at 200 % zoom."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from server import keys
from server.store.models import ChecklistResponse, PrecallCheck
from signalling.keys import DESK
from tests.browser.calls import (
    WITHIN,
    admit,
    answer_checklist,
    joined,
    phase,
    practitioner_page,
    safe_answers,
)
from tests.browser.conftest import LiveServer, NewContext
from tests.browser.test_inclusion_access import ZOOMED, accessible
from tests.browser.test_recording import rec, say_yes
from tests.calls import remote_call
from tests.conftest import World
from tests.recording import recording_settings

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
# Layout shifts not caused by the person (a tap within 500 ms), summed as Lighthouse's CLS
# does for a short page life: what appears by itself must not push content about.
SHIFTS = """() => { window.__shifts = []; new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shifts.push(e.value);
  }).observe({ type: "layout-shift", buffered: true }); }"""


async def step(page: Any) -> str | None:
    value: str | None = await page.get_attribute("#call", "data-step")
    return value


async def until_step(page: Any, wanted: str) -> None:
    await page.wait_for_function(
        "w => document.getElementById('call').dataset.step === w", arg=wanted,
        timeout=WITHIN * 1000)


async def shifted(page: Any) -> float:
    total: float = await page.evaluate(
        "() => (window.__shifts || []).reduce((a, b) => a + b, 0)")
    return total


async def through_the_link(new_context: NewContext, token: str, **options: Any) -> Any:
    context = await new_context(**{**PHONE, **options})
    page = await context.new_page()
    await page.goto(f"/join/{token}")
    await page.fill("#day", "1")
    await page.fill("#month", "1")
    await page.fill("#year", "1990")
    await page.locator("form button[type=submit]").click()
    await page.wait_for_url("**/join")
    return page


@pytest.mark.timeout(400)  # the whole journey, on a machine shared with other work
async def test_one_step_per_screen_back_works_and_nothing_shifts(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    await practitioner_page(new_context, alice, call.appointment.id)
    context = await new_context(**PHONE)
    await context.add_init_script(SHIFTS)
    page = await context.new_page()
    await page.goto(f"/join/{call.client_token}")
    for field, value in (("#day", "1"), ("#month", "1"), ("#year", "1990")):
        await page.fill(field, value)
    await page.locator("form button[type=submit]").click()
    await page.wait_for_url("**/join")

    # Step 1: a short "how we use your information", the full notice one tap away.
    assert await step(page) == "privacy"
    await page.get_by_text("Step 1 of 4").wait_for()
    assert await page.locator("#checklist").is_hidden()
    assert await page.locator("#precall").is_hidden()
    full = page.locator("#journey-privacy").get_by_role("link", name="Read the full notice")
    assert await full.get_attribute("href") == "/privacy-notice"
    await page.locator("#journey-privacy-next").click()

    # Step 2: the questions, two to a screen, every one answered "yes" to go ahead.
    await page.get_by_role("heading", name="Before you start").wait_for()
    assert await step(page) == "questions"
    shown = page.locator("#checklist-items fieldset.item:not(.later)")
    assert await shown.count() == 2
    assert await page.locator("#journey-privacy").is_hidden()
    # Next with nothing answered says so and stays.
    await page.locator("#journey-next").click()
    await page.get_by_role("alert").get_by_text("Please answer every question.").wait_for()
    assert await page.evaluate("() => rapportJourney.view().page") == 0
    for i in range(2):
        await shown.nth(i).get_by_label("Yes", exact=True).check()
    await page.locator("#journey-next").click()
    assert await page.evaluate("() => rapportJourney.view().page") == 1
    # The browser's Back goes to the previous screen, keeping the answers; Back again to
    # step 1; Forward returns.
    await page.go_back()
    await page.wait_for_function("() => rapportJourney.view().page === 0")
    assert await shown.nth(0).get_by_label("Yes", exact=True).is_checked()
    await page.go_back()
    await until_step(page, "privacy")
    assert page.url.endswith("/join")
    await page.go_forward()
    await until_step(page, "questions")
    await page.locator("#journey-next").click()
    for item_id in list(safe_answers("client"))[2:]:
        group = page.locator("fieldset.item", has=page.locator(f'input[data-item="{item_id}"]'))
        if not await group.is_visible():
            await page.locator("#journey-next").click()
        await group.get_by_label("Yes", exact=True).check()
    await page.get_by_role("button", name="Confirm").click()

    # Step 3: the check, in words only; then the waiting room.
    await until_step(page, "check")
    await page.get_by_text("Step 3 of 4").wait_for()
    await page.locator("#precall-done").wait_for(timeout=WITHIN * 2000)
    words = await page.locator("#precall-result").inner_text()
    assert "kbit" not in words and " ms" not in words and words.startswith("Your connection"), words
    assert await page.locator("#precall-skip").is_hidden()  # nothing left to skip
    await page.locator("#precall-done").click()
    await until_step(page, "wait")
    await page.get_by_role("heading", name="Please wait").wait_for()
    assert await page.locator("#checklist").is_hidden()
    assert await page.locator("#precall").is_hidden()
    assert await shifted(page) <= 0.1, await page.evaluate("() => window.__shifts")
    assert (await page.evaluate("() => rapportCall.state()"))["errors"] == []


@pytest.mark.timeout(400)
async def test_reopening_the_link_goes_straight_back(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    """Closed the page while waiting, then while in the call after leaving: the same link on
    the same device opens the call page where they were, with no date of birth and no
    error."""
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await joined(new_context, call.client_token)
    await until_step(page, "wait")
    # The check's result is posted as the person moves on: let it land before closing.
    for _ in range(int(WITHIN * 10)):
        async with live_server.db() as db:
            if await db.scalar(select(PrecallCheck.id).where(
                    PrecallCheck.appointment_id == call.appointment.id,
                    PrecallCheck.user_id.is_(None))):
                break
        await asyncio.sleep(0.1)
    context = page.context
    await page.close()

    again = await context.new_page()
    await again.add_init_script(SHIFTS)
    await again.goto(f"/join/{call.client_token}")
    assert again.url.endswith("/join")  # straight past the date of birth
    assert await step(again) == "wait"  # chosen by the server: nothing moves after the load
    await phase(again, "waiting")
    await again.get_by_role("heading", name="Please wait").wait_for()
    assert await again.locator("#precall").is_hidden()
    assert await shifted(again) <= 0.1

    await admit(prac, person.full_name)
    await phase(again, "in")
    await again.locator("#leave").click()
    await again.locator("#confirm-yes").click()
    await again.locator("#finished").wait_for()
    await again.close()
    back = await context.new_page()
    await back.goto(f"/join/{call.client_token}")
    assert back.url.endswith("/join")
    await phase(back, "waiting")
    assert await step(back) == "wait"
    status = await back.locator("#call-status").inner_text()
    assert "Something went wrong" not in status, status
    assert (await back.evaluate("() => rapportCall.state()"))["errors"] == []
    async with live_server.db() as db:  # answered once: reopening asked nothing again
        answers = await db.scalars(select(ChecklistResponse).where(
            ChecklistResponse.role == "client"))
        assert len(list(answers)) == 1


async def test_another_device_still_needs_the_date_of_birth(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    await through_the_link(new_context, call.client_token)
    other = await (await new_context(**PHONE)).new_page()
    await other.goto(f"/join/{call.client_token}")
    await other.get_by_role("heading", name="This link does not work").wait_for()


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> Any:
    """Recording switched on (a key ring and a folder), as in test_recording."""
    return recording_settings(database_url, tmp_path / "recordings")


@pytest.mark.timeout(600)  # a recording, three people and two journeys
async def test_red_banner_only_while_recording_and_consent_fits_at_200_percent(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    """A recording running in the room: the person still waiting sees a plain line saying they
    are not recorded, no red banner, no error, and sends nothing to the recorder; let in, they
    are asked, and the dialog at 200 % zoom on a phone scrolls with a visible sign of more and
    keeps both answers on screen."""
    live_server.app[DESK].recorder.size = (320, 240)  # a shared machine: a light encode
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await admit(prac, person.full_name)
    await phase(client, "in")
    await prac.get_by_role("button", name="Ask to record").click()
    await say_yes(prac)
    await say_yes(client)
    await rec(client, "recording")
    assert "recording-on" in (await client.get_attribute("#recording-state", "class") or "")

    interpreter = await (await new_context(**ZOOMED)).new_page()
    # The server is busy recording (and the machine shared): a generous wait for the page.
    await interpreter.goto(f"/join/{call.interpreter_token}", timeout=WITHIN * 3000)
    if not await interpreter.locator("#name").count():
        raise AssertionError(await interpreter.locator("main").inner_text())
    await interpreter.locator("#name").fill("Ines Interpreter")
    await interpreter.locator("form button[type=submit]").click()
    await interpreter.wait_for_url("**/join")
    await answer_checklist(interpreter, safe_answers("interpreter"))
    await phase(interpreter, "waiting")
    await rec(interpreter, "recording")  # told the room's state...
    banner = interpreter.locator("#recording-state")
    assert "recording-on" not in (await banner.get_attribute("class") or "")
    assert await banner.inner_text() == ("You are not being recorded while you wait. Nothing "
                                         "is recorded unless you say yes.")
    view = await interpreter.evaluate("() => rapportCall.recording()")
    assert view["recorder"] is None, view  # ...but nothing is sent to the recorder
    assert await interpreter.locator("#record-stop").is_hidden()
    assert (await interpreter.evaluate("() => rapportCall.state()"))["errors"] == []

    await admit(prac, "Ines Interpreter")
    await phase(interpreter, "in")
    dialog = interpreter.locator("#consent-dialog")
    await dialog.wait_for()
    await accessible(interpreter, "consent dialog at 200 %")
    box = await dialog.bounding_box()
    height = await interpreter.evaluate("() => innerHeight")
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height + 1, box
    for name in ("Yes, record", "No, do not record"):
        button = await interpreter.get_by_role("button", name=name).bounding_box()
        assert button is not None and button["y"] >= 0 and \
            button["y"] + button["height"] <= height + 1, (name, button)
    words = interpreter.locator("#consent-paragraphs")
    sizes = await words.evaluate("e => [e.scrollHeight, e.clientHeight]")
    assert sizes[0] > sizes[1], sizes  # more than fits: it scrolls...
    style = await words.evaluate("e => getComputedStyle(e).backgroundAttachment")
    assert "local" in style and "scroll" in style, style  # ...with its scroll shadow
    assert await words.get_attribute("tabindex") == "0"  # and the keyboard can scroll it
    await words.evaluate("e => { e.scrollTop = e.scrollHeight; }")
    last = words.locator("p").last
    assert await last.is_visible()
    await interpreter.get_by_role("button", name="Yes, record").click()
    await rec(interpreter, "recording")
    assert "recording-on" in (await banner.get_attribute("class") or "")
