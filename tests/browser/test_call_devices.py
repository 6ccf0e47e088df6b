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
