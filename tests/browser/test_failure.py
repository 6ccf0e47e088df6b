""""If nothing works" (#7) in headless Chromium: a client whose camera and microphone are
refused, or whose network blocks the signalling WebSocket, is told exactly what to do next
(the help number), and the practitioner sees live in the waiting list that they tried and
why, in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from server import keys
from tests.browser.calls import WITHIN, answer_checklist, phase, practitioner_page, safe_answers
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

# The browser refuses the camera and microphone, as when a person pressed "Block".
DENY_MEDIA = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""
# A network that lets web pages through but not WebSockets (some proxies and public Wi-Fi).
BLOCK_WEBSOCKETS = """
window.WebSocket = class extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 3;
    setTimeout(() => this.dispatchEvent(Object.assign(new Event("close"), { code: 1006 })), 50);
  }
  send() {}
  close() {}
};
Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
"""


async def _client(new_context: NewContext, token: str, script: str) -> Any:
    context = await new_context()
    await context.add_init_script(script)
    page = await context.new_page()
    await page.goto(f"/join/{token}")
    await page.get_by_label("Day").fill("1")
    await page.get_by_label("Month").fill("1")
    await page.get_by_label("Year").fill("1990")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/join", wait_until="domcontentloaded")
    return page


async def _told_what_to_do(page: Any, reason: str, phone: str) -> None:
    box = page.locator("#failure")
    await box.wait_for(timeout=WITHIN * 1000)
    assert await box.get_by_role("heading").inner_text() == "The video session cannot start"
    assert reason in await page.locator("#failure-reason").inner_text()
    call_us = box.get_by_role("link", name=phone)
    assert await call_us.get_attribute("href") == "tel:" + phone.replace(" ", "")
    assert await page.evaluate("() => document.activeElement.id") == "failure"


async def test_refused_camera_and_microphone(live_server: LiveServer, world: World,
                                             new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    settings = live_server.app[keys.SETTINGS]
    call = await remote_call(live_server.db, settings, alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await _client(new_context, call.client_token, DENY_MEDIA)
    await _told_what_to_do(client, "Allow them in your browser's settings", settings.help_phone)
    await prac.locator("#lobby-list li", has_text=person.full_name).get_by_text(
        "Tried to join, but their browser blocked the camera and microphone.").wait_for()
    # They can still go on without camera and microphone (to see and hear, or to be let in).
    await answer_checklist(client, safe_answers("client"))
    await phase(client, "waiting")
    assert (await client.evaluate("() => rapportCall.failure()"))["sent"] == [
        {"reason": "media_denied", "status": 201}]


async def test_websocket_blocked(live_server: LiveServer, world: World,
                                 new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    settings = live_server.app[keys.SETTINGS]
    call = await remote_call(live_server.db, settings, alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await _client(new_context, call.client_token, BLOCK_WEBSOCKETS)
    # Four tries (about 15 s of back-off) before the page gives the advice; it keeps trying.
    await _told_what_to_do(client, "Try another network", settings.help_phone)
    entry = prac.locator("#lobby-list li", has_text=person.full_name)
    await entry.get_by_text("Tried to join, but could not reach the video service.",
                            exact=False).wait_for()
    # Not connected: nobody to let in, so no buttons, only the news.
    assert await entry.get_by_role("button").count() == 0
