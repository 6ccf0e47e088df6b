"""WCAG 2.2 AA for the client's journey and the practitioner's main pages, in English and in
Arabic (right to left): axe-core finds no violation on any page or state, nothing scrolls
sideways on a 360 px phone or at 200 % zoom on it, and the whole client journey can be done
with a keyboard alone, with a visible focus at every step."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe

from server import keys
from server.settings import Settings
from tests.browser.calls import WITHIN, phase, practitioner_page, safe_answers
from tests.browser.conftest import LiveServer, NewContext, sign_in
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

AXE = Axe()
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
# 200 % zoom on a 360 px phone leaves 180 CSS pixels of width.
ZOOMED = {"viewport": {"width": 180, "height": 370}, "is_mobile": True, "has_touch": True}


async def accessible(page: Any, step: str) -> None:
    """No axe-core violation, and no sideways scrolling."""
    results = await AXE.run(page)
    assert results.violations_count == 0, f"{step}:\n{results.generate_report()}"
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = await page.evaluate("() => window.innerWidth")
    assert width <= viewport, f"{step}: the page scrolls sideways ({width} > {viewport})"
    # Right to left, what overflows on the left cannot be scrolled to at all: look at boxes.
    outside = await page.evaluate("""() => [...document.querySelectorAll("body *")]
        .filter(e => { const r = e.getBoundingClientRect();
                       return r.width > 1 && (r.left < -1 || r.right > innerWidth + 1); })
        .map(e => e.tagName + "#" + e.id + "." + e.className)""")
    assert not outside, f"{step}: outside the screen: {outside}"


async def answer_by_id(page: Any, answers: dict[str, bool], *,
                       check_each: str | None = None) -> None:
    """Answer the checklist by item id (works in any language), screen by screen ("Next"),
    then confirm. `check_each`: run axe on every screen of questions, named after it."""
    await page.locator("#checklist fieldset.item").first.wait_for()
    screen = 1
    for item_id, value in answers.items():
        yes = page.locator(f'input[data-item="{item_id}"]')
        if not await yes.is_visible():
            await page.locator("#journey-next").click()
            screen += 1
        if check_each and await page.locator("#checklist fieldset.item:not(.later)").first \
                .locator("input[data-item]").get_attribute("data-item") == item_id:
            await accessible(page, f"{check_each}, screen {screen}")
        if value:
            await yes.check()
        else:
            await page.locator("fieldset.item", has=yes).locator("input[value=no]").check()
    await page.locator("#checklist button[type=submit]").click()


async def privacy_step(page: Any, lang: str | None = None) -> None:
    """The journey's first step: how we use your information (axe-checked when `lang` is
    given), then Continue."""
    await page.locator("#journey-privacy").wait_for()
    if lang:
        await accessible(page, f"{lang}: how we use your information")
    await page.locator("#journey-privacy-next").click()


async def check_step(page: Any, lang: str | None = None) -> None:
    """The journey's camera and connection check: its result in words, then Continue."""
    await page.locator("#precall-done").wait_for(timeout=WITHIN * 2000)
    if lang:
        await accessible(page, f"{lang}: camera and connection check")
    await page.locator("#precall-done").click()
    await page.wait_for_function("() => document.getElementById('call').dataset.step === 'wait'")


async def through_the_link(page: Any, token: str, lang: str) -> None:
    await page.goto(f"/join/{token}?lang={lang}")
    await page.fill("#day", "1")
    await page.fill("#month", "1")
    await page.fill("#year", "1990")
    await page.locator("form button[type=submit]").click()
    await page.wait_for_url("**/join")


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_client_journey_passes_axe(live_server: LiveServer, world: World,
                                         new_context: NewContext, lang: str) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    settings: Settings = live_server.app[keys.SETTINGS]
    call = await remote_call(live_server.db, settings, alice, person)
    # The practitioner opens the session first: checklist answers count from its start.
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await (await new_context(**PHONE)).new_page()

    await page.goto(f"/join/{call.client_token}?lang={lang}")
    assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
    await accessible(page, f"{lang}: link page")
    await page.fill("#day", "2")
    await page.fill("#month", "2")
    await page.fill("#year", "1991")
    await page.locator("form button[type=submit]").click()
    await page.locator(".error-summary").wait_for()
    await accessible(page, f"{lang}: wrong date of birth")
    await page.goto(f"/join/not-a-real-link?lang={lang}")
    await accessible(page, f"{lang}: link that does not work")
    await page.goto(f"/no/such/page?lang={lang}")
    await accessible(page, f"{lang}: error page")

    await through_the_link(page, call.client_token, lang)
    await privacy_step(page, lang)
    answers = safe_answers("client")
    unsafe = {k: (not v if k == "client.private" else v) for k, v in answers.items()}
    await answer_by_id(page, unsafe, check_each=f"{lang}: questions")
    await page.locator("#checklist-failed").wait_for()
    await accessible(page, f"{lang}: checklist failed")
    await page.locator("#checklist-again").click()
    await answer_by_id(page, answers)
    await phase(page, "waiting")
    await check_step(page, lang)
    await accessible(page, f"{lang}: waiting room")

    await prac.get_by_role("button", name=f"Let in: {person.full_name}").click()
    await phase(page, "in")
    await accessible(page, f"{lang}: in the call")
    await page.locator("#audio-only").click()
    await accessible(page, f"{lang}: audio only")
    await page.locator("#leave").click()
    await page.locator("#confirm-yes").click()
    await page.locator("#finished").wait_for()
    await accessible(page, f"{lang}: left the session")


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_practitioner_pages_pass_axe(live_server: LiveServer, world: World,
                                           new_context: NewContext, lang: str) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    login = await (await new_context(**PHONE)).new_page()
    await login.goto(f"/login?lang={lang}")
    await accessible(login, f"{lang}: sign in")
    page = await (await new_context(**PHONE)).new_page()
    await sign_in(page, alice)
    await page.goto(f"/caseload?lang={lang}")
    await accessible(page, f"{lang}: caseload")
    await page.goto(f"/diary?lang={lang}")
    await accessible(page, f"{lang}: diary, a remote appointment today")
    for path, step in [(f"/clients/{person.id}", "client record"),
                       (f"/clients/{person.id}/appointments/new", "schedule form"),
                       (f"/clients/{person.id}/contacts/new", "contact form"),
                       ("/account", "my account")]:
        await page.goto(path)
        await accessible(page, f"{lang}: {step}")
    await page.goto(f"/appointments/{call.appointment.id}/call")
    await page.locator("#checklist fieldset.item").first.wait_for()
    await accessible(page, f"{lang}: call page, checklist")
    await answer_by_id(page, safe_answers("practitioner_premises"))
    await phase(page, "in")
    await accessible(page, f"{lang}: call page, nobody waiting")

    for user, paths in [("sue", [("/approvals", "approvals"), ("/team", "team"),
                                 ("/diary", "the team's diary")]),
                        ("adam", [("/admin/users", "accounts"),
                                  ("/admin/users/new", "new account")])]:
        other = await (await new_context(**PHONE)).new_page()
        # An admin with no practice role lands on the accounts page.
        await sign_in(other, world.users[user],
                      expect_path="/admin/users" if user == "adam" else "/diary")
        for path, step in paths:
            await other.goto(f"{path}?lang={lang}")
            await accessible(other, f"{lang}: {step}")


async def tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching `selector` has the focus, as a keyboard user would;
    each stop must show a visible focus indicator."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focus = await page.evaluate("""sel => {
            const el = document.activeElement, style = getComputedStyle(el);
            return {here: el.matches(sel), outline: style.outlineStyle,
                    width: parseFloat(style.outlineWidth), shadow: style.boxShadow,
                    tag: el.tagName, id: el.id};
        }""", selector)
        visible = (focus["outline"] != "none" and focus["width"] >= 2) or focus["shadow"] != "none"
        assert visible or focus["tag"] == "BODY", f"no visible focus on {focus}"
        if focus["here"]:
            return
    raise AssertionError(f"{selector} never got the keyboard focus in {limit} presses of Tab")


async def test_client_journey_by_keyboard_alone(live_server: LiveServer, world: World,
                                                new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await (await new_context(**PHONE)).new_page()
    await page.goto(f"/join/{call.client_token}")

    # The language choice is reachable first, then the date of birth.
    await tab_to(page, 'a[hreflang="cy"]')
    await page.keyboard.press("Enter")
    await page.wait_for_url("**?lang=cy")
    assert await page.get_attribute("html", "lang") == "cy"
    for field, value in (("#day", "1"), ("#month", "1"), ("#year", "1990")):
        await tab_to(page, field)
        await page.keyboard.type(value)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/join")

    # How we use your information: one step, then Continue.
    await page.locator("#journey-privacy").wait_for()
    await tab_to(page, "#journey-privacy-next")
    await page.keyboard.press("Enter")
    # Each question is a radio group: Tab reaches it, Space picks "Yes", an arrow picks "No";
    # two to a screen, "Next" between screens (the focus moves to the next screen's first).
    await page.locator("#checklist fieldset.item").first.wait_for()
    answers = list(safe_answers("client").items())
    for index, (item_id, value) in enumerate(answers):
        if index and index % 2 == 0:
            await tab_to(page, "#journey-next")
            await page.keyboard.press("Enter")
            assert await page.evaluate("() => document.activeElement.name") == f"item-{index}"
        else:
            await tab_to(page, f"input[name=item-{index}]")
        await page.keyboard.press("Space" if value else "ArrowDown")
        assert await page.locator(f'input[data-item="{item_id}"]').is_checked() is value
    await tab_to(page, "#checklist button[type=submit]")
    await page.keyboard.press("Enter")
    await phase(page, "waiting")
    # The check, in words; Continue goes to the waiting room.
    await page.locator("#precall-done").wait_for(timeout=WITHIN * 2000)
    await tab_to(page, "#precall-done")
    await page.keyboard.press("Enter")
    await page.wait_for_function("() => document.getElementById('call').dataset.step === 'wait'")

    await prac.get_by_role("button", name=f"Let in: {person.full_name}").click()
    await phase(page, "in")
    assert await page.locator("#call-status").get_attribute("aria-live") == "polite"

    await tab_to(page, "#audio-only")
    await page.keyboard.press("Enter")
    await page.locator('#audio-only[aria-pressed="true"]').wait_for()
    await tab_to(page, "#leave")
    await page.keyboard.press("Enter")
    await page.locator("#confirm").wait_for()
    await page.keyboard.press("Shift+Tab")  # from "Cancel" (the safe default) to "Yes"
    await page.keyboard.press("Enter")
    await page.locator("#finished").wait_for()
    assert await page.evaluate("() => document.activeElement.id") == "finished"


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_journey_reflows_at_200_percent_zoom(live_server: LiveServer, world: World,
                                                   new_context: NewContext, lang: str) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await (await new_context(**ZOOMED)).new_page()
    await page.goto(f"/join/{call.client_token}?lang={lang}")
    await accessible(page, f"{lang} 200%: link page")
    await through_the_link(page, call.client_token, lang)
    await privacy_step(page, f"{lang} 200%")
    await answer_by_id(page, safe_answers("client"), check_each=f"{lang} 200%: questions")
    await phase(page, "waiting")
    await check_step(page, f"{lang} 200%")
    await accessible(page, f"{lang} 200%: waiting room")
    await prac.get_by_role("button", name=f"Let in: {person.full_name}").click()
    await phase(page, "in")
    await accessible(page, f"{lang} 200%: in the call")
