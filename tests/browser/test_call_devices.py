"""Device choice (#14): the camera, microphone and speaker lists in the side panel, a camera
switched in the middle of a call (replaceTrack: no renegotiation, the other side's video
keeps flowing on the same m-lines), the choice remembered on this device; axe-clean."""

from __future__ import annotations

import pytest

from server import keys
from tests.browser.calls import WITHIN, admit, joined, media_flows, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext
from tests.browser.test_inclusion_access import accessible
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser


async def test_camera_switched_mid_call_keeps_media_flowing(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await admit(prac, person.full_name)
    await phase(client, "in")
    await media_flows(client, peers=1)

    camera = prac.get_by_label("Camera", exact=True)
    await camera.wait_for()
    assert await camera.locator("option").count() >= 1
    await accessible(prac, "practitioner with the device lists")
    layout = await prac.evaluate("() => rapportCall.peers()[0].layout")
    before = await prac.evaluate("() => rapportDevices.view().video")
    device = await camera.input_value()

    # A fresh track from the camera in the list, swapped in on every sender.
    await prac.evaluate("id => rapportDevices.swap('videoinput', id)", device)
    after = await prac.evaluate("() => rapportDevices.view().video")
    assert after and after != before
    assert await prac.evaluate("""id => {
        const senders = rapportCall.senders();
        return senders.some(s => s.track && s.track.id === id)
            && !senders.some(s => s.track && s.track.readyState === 'ended'); }""", after)
    # No renegotiation: the same m-lines; the client still receives video that keeps rising.
    assert await prac.evaluate("() => rapportCall.peers()[0].layout") == layout
    await media_flows(client, peers=1, within=WITHIN)

    # Chosen in the list: remembered on this device.
    await camera.select_option(device)
    assert await prac.evaluate("() => localStorage.getItem('rapport.device.videoinput')") == device


# The shape of the practitioner's picture as a page receives it (its tile's video).
SHAPE = """id => { const v = document.querySelector(`#tiles li[data-id="${id}"] video`);
    return v && v.videoHeight ? v.videoWidth / v.videoHeight : 0; }"""


async def test_the_practitioners_screen_is_seen_by_the_other_two(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    """Chromium's fake capture (with --use-fake-ui-for-media-stream) is a 16:9 screen; the
    fake camera is 4:3: the others' view of the practitioner changes shape, and back."""
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    await admit(prac, person.full_name)
    await admit(prac, "Ines Interpreter")
    for page in (client, interpreter):
        await phase(page, "in")
        await media_flows(page, peers=2)
    me = (await prac.evaluate("() => rapportCall.state().me.id"))
    for page in (client, interpreter):
        await page.wait_for_function(f"id => ({SHAPE})(id) > 1.2 && ({SHAPE})(id) < 1.45",
                                     arg=me, timeout=WITHIN * 1000)

    await prac.get_by_role("button", name="Share screen").click()
    await prac.get_by_role("button", name="Stop sharing screen").wait_for()
    assert await prac.evaluate("() => rapportDevices.sharing()")
    for page in (client, interpreter):
        await page.wait_for_function(f"id => ({SHAPE})(id) > 1.7", arg=me,
                                     timeout=WITHIN * 1000)
        await media_flows(page, peers=2)
    await accessible(prac, "practitioner sharing the screen")

    await prac.get_by_role("button", name="Stop sharing screen").click()
    await prac.get_by_role("button", name="Share screen").wait_for()
    for page in (client, interpreter):
        await page.wait_for_function(f"id => ({SHAPE})(id) > 1.2 && ({SHAPE})(id) < 1.45",
                                     arg=me, timeout=WITHIN * 1000)


async def test_an_unplugged_microphone_is_replaced_and_the_page_says_so(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    """A device that goes away mid-call (its track ends, as an unplugged headset's does):
    another of its kind takes over on every sender, or the page says there is none."""
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await admit(prac, person.full_name)
    await phase(client, "in")
    await media_flows(client, peers=1)
    await prac.get_by_label("Microphone", exact=True).wait_for(state="attached")
    others = await prac.evaluate("""async () => {
        const mine = rapportCall.senders().find(s => s.track && s.track.kind === 'audio');
        const id = mine.track.getSettings().deviceId;
        const all = await navigator.mediaDevices.enumerateDevices();
        mine.track.dispatchEvent(new Event('ended'));  // what unplugging it fires
        return all.filter(d => d.kind === 'audioinput' && d.deviceId && d.deviceId !== id)
            .length; }""")
    note = prac.locator("#device-note")
    if others:
        await note.filter(has_text="A device was disconnected. Now using:").wait_for(
            state="attached", timeout=WITHIN * 1000)
        assert await prac.evaluate("""() => rapportCall.senders().some(
            s => s.track && s.track.kind === 'audio' && s.track.readyState === 'live')""")
        await media_flows(client, peers=1)
    else:
        await note.filter(has_text="there is no other to use").wait_for(
            state="attached", timeout=WITHIN * 1000)
