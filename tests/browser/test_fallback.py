"""The automatic audio-only fallback during a call (inclusion, #7), in headless Chromium with
fake devices: a line that turns lossy after a good pre-call check (Chromium's WebRTC network
emulation) makes the call page switch to audio only by itself, from its own in-call getStats,
and say so; the other side sees the camera as off; video comes back on by choice.

Chromium 156 binds its emulated network to a peer connection when the connection is created:
changing it later does not touch a running connection (nor an ICE restart). So the line turns
bad while the client waits to be let in, after the pre-call check found it good: the call
starts with video, and only the in-call measurements can notice."""

from __future__ import annotations

from typing import Any

import pytest

from server import keys
from tests.browser.calls import (
    WITHIN,
    admit,
    answer_checklist,
    joined,
    media_flows,
    open_link,
    phase,
    practitioner_page,
    safe_answers,
    stats,
    through_check,
)
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
    client = await open_link(new_context, call.client_token)
    await client.wait_for_url("**/join")
    await answer_checklist(client, safe_answers("client"), to_waiting=False)
    await phase(client, "waiting")
    assert (await precall_result(client))["verdict"] in ("good", "fair")
    await through_check(client)
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


async def _bytes(page: Any) -> dict[str, int]:
    sample = (await stats(page))[0]
    return {"audio": sample["audioBytes"], "video": sample["videoBytes"]}


async def _video_direction(page: Any, wanted: str) -> None:
    await page.wait_for_function(
        "wanted => rapportCall.peers().length === 1"
        " && rapportCall.peers()[0].video.every(d => d === wanted)",
        arg=wanted, timeout=WITHIN * 1000)


async def test_audio_only_receives_no_video_either(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await phase(client, "waiting")
    await admit(prac, person.full_name)
    await phase(client, "in")
    for page in (prac, client):
        await media_flows(page, peers=1)

    # The client chooses audio only: the video transceivers go inactive on both sides
    # (renegotiated), so video stops in both directions while audio keeps flowing.
    await client.get_by_role("button", name="Audio only").click()
    for page in (client, prac):
        await _video_direction(page, "inactive")
    before = {"client": await _bytes(client), "prac": await _bytes(prac)}
    await client.wait_for_timeout(2000)
    after = {"client": await _bytes(client), "prac": await _bytes(prac)}
    for side in ("client", "prac"):
        assert after[side]["audio"] > before[side]["audio"], (side, before, after)
        assert after[side]["video"] - before[side]["video"] < 2_000, (side, before, after)

    # Video back on: both directions again.
    await client.get_by_role("button", name="Audio only").click()
    for page in (client, prac):
        await _video_direction(page, "sendrecv")
    for page in (prac, client):
        await media_flows(page, peers=1)
