"""The automatic audio-only fallback during a call (inclusion, #7), in headless Chromium with
fake devices: a line that turns lossy after a good pre-call check (Chromium's WebRTC network
emulation) makes the call page switch to audio only by itself, from its own in-call getStats,
and say so; the other side sees the camera as off; video comes back on by choice.

Chromium 156 binds its emulated network to a peer connection when the connection is created:
changing it later does not touch a running connection (nor an ICE restart). So the line turns
bad while the client waits to be let in, after the pre-call check found it good: the call
starts with video, and only the in-call measurements can notice."""

from __future__ import annotations

import pytest

from server import keys
from tests.browser.calls import WITHIN, admit, joined, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext
from tests.browser.test_precall import lossy, precall_result
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser

WEAK_NOTE = "Your connection is weak, so we turned video off. You can still hear and talk."


async def test_lossy_line_during_the_call_falls_back_to_audio_only(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await phase(client, "waiting")
    assert (await precall_result(client))["verdict"] in ("good", "fair")
    assert await client.get_attribute("#audio-only", "aria-pressed") == "false"

    # The client's line turns bad: a third of the packets are lost.
    await lossy(client, 30)
    await admit(prac, person.full_name)
    await phase(client, "in")
    await client.locator('#audio-only[aria-pressed="true"]').wait_for(
        state="attached", timeout=WITHIN * 1000)
    note = client.locator("#fallback-text")
    assert await note.inner_text() == WEAK_NOTE
    assert await note.get_attribute("aria-live") == "assertive"
    view = await client.evaluate("() => rapportCall.fallback()")
    assert view["automatic"] and view["switches"] == 1, view
    # The practitioner sees the client's camera as off.
    await prac.locator("#tiles li", has_text=f"{person.full_name} (client) · camera off").wait_for()

    # The client turns video back on from the notice; the page does not fall back again by
    # itself straight away (the cool-down), even though the line is still lossy.
    await client.get_by_role("button", name="Turn video back on").click()
    await client.locator('#audio-only[aria-pressed="false"]').wait_for()
    assert await note.inner_text() == ""
    assert await client.get_by_role("button", name="Turn video back on").is_hidden()
    await prac.wait_for_function(
        "name => [...document.querySelectorAll('#tiles li')].some(li => "
        "li.textContent.includes(name) && !li.textContent.includes('camera off'))",
        arg=person.full_name, timeout=WITHIN * 1000)
    view = await client.evaluate("() => rapportCall.fallback()")
    assert view["restoredAt"] is not None and not view["automatic"], view
    await client.wait_for_timeout(8000)  # longer than the three weak samples it takes
    view = await client.evaluate("() => rapportCall.fallback()")
    assert view["switches"] == 1 and await client.get_attribute(
        "#audio-only", "aria-pressed") == "false", view
