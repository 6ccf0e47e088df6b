"""Video first (#14): at 1280×800 and at 360×740, in English and in Arabic (right to left), in
a two-way and a three-way call, the remote video and the controls are inside the first screen
for the practitioner and the client (bounding boxes inside the viewport, nothing scrolled);
the own view is a small picture in picture; the side panel is a drawer on a phone; the
speaking person is highlighted; a call timer runs; axe-core finds nothing."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from server import keys
from tests.browser.calls import WITHIN, admit, joined, media_flows, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext
from tests.browser.test_inclusion_access import accessible
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}

# Every remote video, the controls bar and each of its buttons, with their boxes and whether
# each lies inside the viewport (the page scrolled to the top first).
BOXES = """() => {
  scrollTo(0, 0);
  const inside = (r) => r.width > 0 && r.height > 0 && r.left >= -1 && r.top >= -1
    && r.right <= innerWidth + 1 && r.bottom <= innerHeight + 1;
  const box = (el, what) => { const r = el.getBoundingClientRect();
    return {what, inside: inside(r), rect: [r.left, r.top, r.right, r.bottom].map(Math.round)}; };
  const out = [...document.querySelectorAll("#tiles .tile:not(.me) video")]
    .map(v => box(v, "remote video"));
  const bar = document.querySelector("#stage .controls");
  out.push(box(bar, "controls"));
  for (const b of bar.querySelectorAll("button"))
    if (!b.hidden && b.offsetParent) out.push(box(b, "button " + b.id));
  const me = document.querySelector("#tiles .tile.me");
  const remote = document.querySelector("#tiles .tile:not(.me)");
  const pip = me && remote
    ? me.getBoundingClientRect().width * 2 < remote.getBoundingClientRect().width : true;
  const tiles = [...document.querySelectorAll("#tiles .tile")]
    .map(t => t.className + ":" + t.dataset.id + ":" + t.querySelector(".name").textContent);
  return {boxes: out, remotes: out.filter(b => b.what === "remote video").length, pip,
          viewport: [innerWidth, innerHeight], tiles};
}"""


async def video_first(page: Any, who: str, remotes: int) -> None:
    """Wait (the layout settles after a resize) until every box is inside; then assert it."""
    with contextlib.suppress(PlaywrightTimeout):  # the assertions below say what is wrong
        await page.wait_for_function(
            f"""() => {{ const r = ({BOXES})(); return r.remotes === {remotes} && r.pip
                && r.boxes.every(b => b.inside); }}""", timeout=WITHIN * 1000)
    result = await page.evaluate(BOXES)
    assert result["remotes"] == remotes, f"{who}: {result}"
    assert result["pip"], f"{who}: the own view is not a small picture in picture: {result}"
    outside = [b for b in result["boxes"] if not b["inside"]]
    assert not outside, f"{who}: outside the first screen {result['viewport']}: {outside}"


async def check_sizes(pages: dict[str, Any], remotes: int, lang: str) -> None:
    for size, viewport in SIZES.items():
        for who, page in pages.items():
            await page.set_viewport_size(viewport)
            await video_first(page, f"{lang} {remotes + 1}-way, {who} at {size}", remotes)
            await accessible(page, f"{lang} {remotes + 1}-way, {who} at {size}")


@pytest.mark.timeout(360)  # three pages, two sizes, two languages, axe on each: long when loaded
async def test_video_first_two_and_three_way_in_english_and_arabic(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await admit(prac, person.full_name)
    await phase(client, "in")
    for page in (prac, client):
        await media_flows(page, peers=1)
    await check_sizes({"practitioner": prac, "client": client}, 1, "en")

    # The timer runs in the bar; the speaking person (the fake microphone beeps) is outlined.
    await prac.locator("#call-timer").filter(has_text=":").wait_for()
    await prac.wait_for_function(
        "() => document.querySelector('#tiles .tile:not(.me).speaking')", timeout=WITHIN * 1000)

    # On a phone the waiting list is a drawer over the video, opened from the bar.
    await prac.set_viewport_size(SIZES["phone"])
    side = prac.locator("#side")
    assert not await side.is_visible()
    toggle = prac.locator("#side-toggle")
    await toggle.click()
    await prac.get_by_role("heading", name="Waiting to join").wait_for()
    assert await toggle.get_attribute("aria-expanded") == "true"
    await accessible(prac, "en practitioner, drawer open on a phone")
    await prac.keyboard.press("Escape")
    await side.wait_for(state="hidden")
    assert await toggle.get_attribute("aria-expanded") == "false"

    # Letting in the last person waiting from the drawer closes it: the practitioner sees
    # them arrive, and the focus is back on the drawer's button.
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await toggle.click()
    await admit(prac, "Ines Interpreter")
    await side.wait_for(state="hidden")
    assert await toggle.get_attribute("aria-expanded") == "false"
    assert await prac.evaluate("() => document.activeElement.id") == "side-toggle"
    await prac.set_viewport_size(SIZES["desktop"])
    await phase(interpreter, "in")
    three = {"practitioner": prac, "client": client, "interpreter": interpreter}
    for page in three.values():
        await media_flows(page, peers=2)
    await check_sizes(three, 2, "en")

    # The same call in Arabic (right to left): each page reopened in Arabic, back in at once.
    for page in three.values():
        path = page.url.split("?")[0]
        await page.goto(f"{path}?lang=ar")
        await phase(page, "in")
        assert await page.get_attribute("html", "dir") == "rtl"
    for page in three.values():
        await media_flows(page, peers=2)
    await check_sizes(three, 2, "ar")

    # Two-way in Arabic: the interpreter leaves.
    await interpreter.locator("#leave").click()
    await interpreter.locator("#confirm-yes").click()
    await phase(interpreter, "final")
    for page in (prac, client):
        await page.wait_for_function("() => rapportCall.peers().length === 1",
                                     timeout=WITHIN * 1000)
    await check_sizes({"practitioner": prac, "client": client}, 1, "ar")
