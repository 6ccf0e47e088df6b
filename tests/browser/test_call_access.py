"""The call page is usable by everyone: no axe-core violations at each step (checklist,
waiting room, the practitioner's waiting list, in the call), and it fits a 360 px phone."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe

from server import keys
from tests.browser.calls import (
    admit,
    answer_checklist,
    phase,
    practitioner_page,
    safe_answers,
)
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

AXE = Axe()


async def no_violations(page: Any, step: str) -> None:
    results = await AXE.run(page)
    assert results.violations_count == 0, f"{step}:\n{results.generate_report()}"
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = await page.evaluate("() => window.innerWidth")
    assert width <= viewport, f"{step}: the page scrolls sideways ({width} > {viewport})"


async def test_every_step_of_a_call_passes_axe(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id, checklist=False)
    await prac.get_by_role("heading", name="Before you start").wait_for()
    await no_violations(prac, "practitioner checklist")

    phone = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
    page = await (await new_context(**phone)).new_page()
    await page.goto(f"/join/{call.client_token}")
    await no_violations(page, "date of birth")
    await page.get_by_label("Day").fill("1")
    await page.get_by_label("Month").fill("1")
    await page.get_by_label("Year").fill("1990")
    await page.get_by_role("button", name="Continue").click()
    # The journey's first step after the date of birth: how we use your information.
    await page.locator("#journey-privacy-next").wait_for()
    await no_violations(page, "how we use your information")
    await page.locator("#journey-privacy-next").click()
    await page.get_by_role("heading", name="Before you start").wait_for()
    await no_violations(page, "client checklist")
    await answer_checklist(page, safe_answers("client"))
    await phase(page, "waiting")
    await no_violations(page, "waiting room")

    await answer_checklist(prac, safe_answers("practitioner_premises"))
    await phase(prac, "in")
    await prac.get_by_role("button", name=f"Let in: {person.full_name}").wait_for()
    await no_violations(prac, "practitioner with someone waiting")
    await admit(prac, person.full_name)
    await phase(page, "in")
    await no_violations(page, "client in the call")
    await no_violations(prac, "practitioner in the call")
