"""A practitioner schedules an appointment through the real pages, in headless Chromium;
the caseload works on a 360 px wide screen and the login form with the keyboard alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
import pytest
from sqlalchemy import select

from server.clock import now
from server.store.models import Appointment, AppointmentKind
from tests.browser.conftest import CODE_LABEL, LiveServer, NewContext, sign_in, submit
from tests.conftest import PASSWORD, TOTP_SECRET, World, forget_last_code, make_client

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")


async def test_practitioner_schedules_a_remote_appointment(
        live_server: LiveServer, world: World, page: Any) -> None:
    alice, client = world.users["alice"], world.clients["a1"]
    # Ten days ahead at 14:30 London time: in the future, and never inside a DST gap.
    local = datetime.combine(now().astimezone(LONDON).date() + timedelta(days=10),
                             datetime.min.time()).replace(hour=14, minute=30)

    await sign_in(page, alice)
    await page.get_by_role("link", name="Caseload").click()
    await page.wait_for_url("**/caseload")
    await page.get_by_role("link", name=client.full_name).click()
    await page.wait_for_url(f"**/clients/{client.id}")
    await page.get_by_role("link", name="Schedule an appointment").click()
    await page.wait_for_url(f"**/clients/{client.id}/appointments/new")

    await page.get_by_label("Remote (video)").check()
    await page.get_by_label("Date and time").fill(local.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("Length in minutes").fill("45")
    await submit(page, page.get_by_role("button", name="Schedule", exact=True),
                 f"/clients/{client.id}/appointments")

    await page.wait_for_url(re.compile(rf"/clients/{client.id}\?created=appointment&"))
    # Never seen in person: say what was saved, that no video session can be held for it and
    # why, offer only what can work (book in person), and never the approval advice for a
    # rule no approval can lift, nor a video session the gate would refuse.
    saved = " ".join((await page.get_by_role("status").inner_text()).split())
    assert saved.startswith("Saved: a remote appointment on "), saved
    assert "does not allow a remote session with this client now" in saved
    assert "No face-to-face contact has been recorded with this client yet." in saved
    assert "Book an in-person appointment first." in saved
    main = await page.locator("main").inner_text()
    assert "senior probation officer" not in main and "approve" not in main
    assert await page.get_by_role("link", name="Open the video session").count() == 0
    assert await page.get_by_role("button", name="Ask a supervisor for approval").count() == 0
    await page.get_by_role("link", name="Book an in-person appointment").click()
    assert await page.get_by_label("In person").is_checked()
    await page.go_back()
    listed = page.locator("ul.list li").filter(has_text=local.strftime("%a %d %b %Y, %H:%M"))
    await listed.wait_for()
    text = " ".join((await listed.inner_text()).split())
    assert "remote" in text and "45 minutes" in text

    async with live_server.db() as db:
        rows = (await db.scalars(select(Appointment).where(
            Appointment.client_id == client.id))).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.kind is AppointmentKind.REMOTE
    assert row.practitioner_id == alice.id
    assert row.duration_minutes == 45
    assert row.cancelled_at is None
    assert row.starts_at == local.replace(tzinfo=LONDON).astimezone(UTC)


async def test_narrow_screen_and_keyboard_only_sign_in(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice = world.users["alice"]
    async with live_server.db.begin() as db:  # a long name with a tag: the widest row
        await make_client(db, world.org, alice, "CRNLONG",
                          given_name="Maximiliana-Alexandrina",
                          family_name="Featherstonehaugh-Cholmondeley",
                          interpreter_needed=True, interpreter_language="pt-BR")
    context = await new_context(viewport={"width": 360, "height": 740},
                                device_scale_factor=2, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto("/login")

    # Keyboard only: Tab to the email field, type, Tab to the password, type, Enter.
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "email":
            break
    else:
        pytest.fail("Tab never reached the email field")
    await page.keyboard.type(alice.email)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "password"
    await page.keyboard.type(PASSWORD)
    await submit(page, lambda: page.keyboard.press("Enter"), "/login")
    await page.wait_for_url("**/login/factor?**")
    await page.get_by_label(CODE_LABEL).focus()
    await forget_last_code(live_server.db, alice.email)
    await page.keyboard.type(pyotp.TOTP(TOTP_SECRET).now())
    await submit(page, lambda: page.keyboard.press("Enter"), "/login/factor")
    await page.wait_for_url("**/diary")  # a practitioner's home page
    await page.goto("/caseload")

    await page.get_by_role("link", name=re.compile("Featherstonehaugh")).wait_for()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the caseload scrolls sideways at 360 px ({width} px wide)"
