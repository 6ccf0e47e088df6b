"""The pre-call check in Chromium with fake devices: camera preview, microphone level, a test
sound, a connection test against the server's echo peer with a plain verdict, kept and shown
to the practitioner; skippable; and on a lossy line (Chromium's WebRTC network emulation) the
verdict is "weak" and the call is set to start audio only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from server import keys
from server.store.models import PrecallCheck
from tests.browser.calls import WITHIN, answer_checklist, phase, practitioner_page, safe_answers
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser


async def precall_result(page: Any) -> dict[str, Any]:
    await page.wait_for_function("() => window.rapportPrecall && rapportPrecall.result()",
                                 timeout=WITHIN * 1000)
    result: dict[str, Any] = await page.evaluate("() => rapportPrecall.result()")
    return result


async def lossy(page: Any, packet_loss: float) -> None:
    """Chromium's own WebRTC network emulation (CDP): this share of packets is dropped on
    peer connections. Chromium 156 applies it through the by-rule command."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditionsByRule", {"matchedNetworkConditions": [{
        "urlPattern": "", "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
        "packetLoss": packet_loss, "packetQueueLength": 0, "packetReordering": False}]})
    await cdp.send("Network.overrideNetworkState", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


async def _client(new_context: NewContext, token: str, *, packet_loss: float = 0) -> Any:
    context = await new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await context.new_page()
    if packet_loss:
        await lossy(page, packet_loss)
    await page.goto(f"/join/{token}")
    await page.fill("#day", "1")
    await page.fill("#month", "1")
    await page.fill("#year", "1990")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/join")
    return page


async def test_precall_check_with_fake_devices(live_server: LiveServer, world: World,
                                               new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await _client(new_context, call.client_token)
    # The journey: the questions first, then the check on a screen of its own.
    await answer_checklist(page, safe_answers("client"), to_waiting=False)
    await phase(page, "waiting")

    check = page.get_by_role("region", name="Check your camera, microphone and connection")
    await check.wait_for()
    # The camera preview plays the fake camera; the level meter moves with the fake microphone.
    await page.wait_for_function(
        "() => document.getElementById('precall-video').videoWidth > 0", timeout=WITHIN * 1000)
    await page.wait_for_function(
        "() => document.getElementById('precall-level').value > 0.01", timeout=WITHIN * 1000)
    await page.get_by_role("button", name="Play a test sound").click()
    result = await precall_result(page)
    # Loopback: nothing lost, no delay; the browser's bitrate estimate may still be ramping
    # up after four seconds (and the machine is shared), so "fair" is an honest answer too.
    assert result["verdict"] in ("good", "fair"), str(result)
    assert result["camera"] and result["microphone"]
    assert result["rtt"] < 300 and result["loss"] < 3 and result["kbps"] > 0, str(result)
    words = {"good": "Your connection is good enough for video.",
             "fair": "Your connection is good enough for video, but the picture may stop now "
                     "and then."}
    await page.get_by_text(words[result["verdict"]]).wait_for()
    # In words only: no milliseconds or kilobits for the client.
    assert "ms" not in (await page.locator("#precall-result").inner_text()).split()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("heading", name="Please wait").wait_for()
    assert await page.locator("#precall").is_hidden()
    await prac.get_by_text(f"Connection check: {result['verdict']}").wait_for()

    async with live_server.db() as db:
        rows = list(await db.scalars(select(PrecallCheck)))
    mine = [r for r in rows if r.user_id is None]
    assert [(r.verdict, r.camera, r.microphone) for r in mine] == [
        (result["verdict"], True, True)]
    assert any(r.user_id == alice.id for r in rows), "the practitioner's own check is kept"
    assert not live_server.app[keys.SETTINGS].force_relay


async def test_precall_check_can_be_skipped(live_server: LiveServer, world: World,
                                            new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    context = await new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    # The echo never answers, so the check is still running when the person reaches it.
    await context.route("**/precall/echo", lambda route: None)
    page = await context.new_page()
    await page.goto(f"/join/{call.client_token}")
    for field in ("#day", "#month"):
        await page.fill(field, "1")
    await page.fill("#year", "1990")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/join")
    await answer_checklist(page, safe_answers("client"), to_waiting=False)
    await phase(page, "waiting")
    await page.get_by_role("button", name="Skip the check").click()
    await page.get_by_role("heading", name="Please wait").wait_for()
    assert await page.locator("#precall").is_hidden()
    await prac.get_by_text("Connection check: skipped").wait_for()


async def test_weak_line_starts_the_call_audio_only(live_server: LiveServer, world: World,
                                                    new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    page = await _client(new_context, call.client_token, packet_loss=30)
    await answer_checklist(page, safe_answers("client"), to_waiting=False)
    await phase(page, "waiting")
    result = await precall_result(page)
    assert result["verdict"] == "weak", str(result)
    await page.get_by_text("Your connection is weak, so the call will start with sound only. "
                           "You can still talk.").wait_for()
    await page.get_by_role("button", name="Continue").click()
    await prac.get_by_text("Connection check: weak, audio only").wait_for()
    # The call will start audio only: the switch is already on (and can be turned off).
    await page.locator('#audio-only[aria-pressed="true"]').wait_for(state="attached")
    assert await page.evaluate("() => rapportPrecall.result().verdict") == "weak"
    await lossy(page, 0)  # the line recovers; what matters is how the call starts
    await prac.get_by_role("button", name=f"Let in: {person.full_name}").click()
    await phase(page, "in")
    assert await page.get_attribute("#audio-only", "aria-pressed") == "true"
    assert await page.locator("#precall").is_hidden()  # the check is over once in the call
    await page.get_by_role("button", name="Audio only").click()  # video back on, by choice
    await page.locator('#audio-only[aria-pressed="false"]').wait_for()
