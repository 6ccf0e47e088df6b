"""The supervisor's dashboard and the practitioner's contact record in headless Chromium: the
seeded figures are the ones shown, the charts are drawn (with text alternatives), an open
record is completed from the caseload's reminder, and every page passes axe at 360 px."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from server.clock import now
from server.records import building as records
from server.store.models import Appointment, AppointmentKind
from tests.browser.conftest import LiveServer, NewContext, sign_in, submit
from tests.browser.test_call_access import no_violations
from tests.conftest import World
from tests.dashboard_seed import seed

pytestmark = pytest.mark.browser


async def _row(page: Any, table_caption: str, name: str) -> dict[str, str]:
    """The figures of one row of a table, by its data-figure names."""
    table = page.locator("table", has=page.locator("caption", has_text=table_caption))
    row = table.locator(f'tr[data-row="{name}"]')
    cells = row.locator("td[data-figure]")
    out = {}
    for index in range(await cells.count()):
        cell = cells.nth(index)
        out[await cell.get_attribute("data-figure")] = " ".join(
            (await cell.inner_text()).split())
    return out


async def test_dashboard_shows_the_seeded_figures(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    await seed(live_server.db, world)
    context = await new_context(viewport={"width": 360, "height": 740},
                                device_scale_factor=2, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await sign_in(page, world.users["sue"])
    await page.get_by_role("link", name="Dashboard").click()
    await page.wait_for_url("**/dashboard")

    team = page.locator("#team-figures")
    assert await team.locator('[data-figure="total"]').inner_text() == "9"
    assert (await team.locator('[data-figure="remote"]').inner_text()).startswith("3")
    assert await team.locator('[data-figure="rtt_ms"]').inner_text() == "100 ms"

    caption = "Contacts by practitioner"
    assert await _row(page, caption, "Alice") == {
        "face_to_face": "2", "remote": "2", "remote_percent": "50 %", "failed_to_attend": "1",
        "technical_failure": "1", "rtt_ms": "100 ms", "loss_percent": "1.0 %"}
    bob = await _row(page, caption, "Bob")
    assert (bob["face_to_face"], bob["remote"], bob["rtt_ms"]) == ("1", "1", "–")
    assert (await _row(page, caption, "Dana"))["remote_percent"] == "0 %"

    out = page.locator("li[data-client]")
    assert sorted(await out.evaluate_all("(els) => els.map((e) => e.dataset.client)")) == [
        "Client CRNA2", "Client CRNB1"]
    assert "never seen face to face" in await out.filter(has_text="CRNA2").inner_text()
    assert "50 days ago" in await out.filter(has_text="CRNB1").inner_text()

    # Three charts, each an image with a name and a description; segments have titles.
    charts = page.get_by_role("img")
    assert await charts.count() == 3
    assert await page.get_by_role("img", name="Contacts by practitioner").count() == 1
    titles = await page.locator("svg rect title").all_text_contents()
    assert "Alice: face to face 2" in titles and "Alice: technical failure 1" in titles
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the dashboard scrolls sideways at 360 px ({width} px wide)"
    await no_violations(page, "dashboard")


async def test_practitioner_completes_an_open_record(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, a1 = world.users["alice"], world.clients["a1"]
    async with live_server.db.begin() as db:
        appointment = Appointment(client_id=a1.id, practitioner_id=alice.id,
                                  kind=AppointmentKind.REMOTE,
                                  starts_at=now() - timedelta(days=1), duration_minutes=30,
                                  created_at=now() - timedelta(days=2))
        db.add(appointment)
        await db.flush()
        record = await records.build(db, appointment.id)
    context = await new_context(viewport={"width": 360, "height": 740},
                                device_scale_factor=2, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await sign_in(page, alice)  # the diary; the open records are listed on the caseload
    await page.goto("/caseload")
    reminder = page.get_by_role("region", name="1 contact record needs your outcome and notes")
    await reminder.get_by_role("link", name="Client CRNA1").click()
    await page.wait_for_url(f"**/contacts/{record.contact_id}")
    await no_violations(page, "open contact record")
    assert await page.get_by_label("Outcome", exact=True).input_value() == "failed_to_attend"
    await page.get_by_label("Notes", exact=True).fill("Phoned twice, no answer.")
    await page.get_by_label("Sensitive").check()
    await submit(page, page.get_by_role("button", name="Save outcome and notes"),
                 f"/contacts/{record.contact_id}")
    await page.get_by_role("heading", name="Earlier versions").wait_for()
    assert "Phoned twice, no answer." in await page.locator("main").inner_text()
    await no_violations(page, "saved contact record with its history")
    await page.get_by_role("link", name="Export").click()
    await page.wait_for_url("**/exports")
    await no_violations(page, "export page")
