"""The supervisor's dashboard in headless Chromium: the seeded figures are the ones shown,
the charts are drawn (with text alternatives), and the page fits a 360 px phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, NewContext, sign_in
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
