"""A recording plays in the page in real Chromium: the video element advances, seeks, is
reached with the keyboard, passes axe at 360 px (in English, and side by side in Arabic),
and the audit log shows one play for the whole viewing however many range requests the
player made."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server import keys
from server.clock import now
from server.recordings.keyring import parse_keys
from server.store.models import Appointment, AppointmentKind, AuditEvent, Recording
from tests.browser.conftest import LiveServer, NewContext, sign_in
from tests.browser.test_call_access import no_violations
from tests.conftest import World
from tests.recording import RECORDING_FILE, sealed_recording, write_sealed

pytestmark = pytest.mark.browser

# Of recording made for the test: random pictures, so the file (about 8 MB) is big enough
# that Chromium fetches it in several ranges, as it does a real recording.
SECONDS = 60.0


async def _recording(live: LiveServer, world: World, seconds: float = SECONDS) -> int:
    async with live.db.begin() as s:
        appointment = Appointment(
            client_id=world.clients["a1"].id, practitioner_id=world.users["alice"].id,
            kind=AppointmentKind.REMOTE, starts_at=now(), duration_minutes=30, created_at=now())
        s.add(appointment)
        await s.flush()
        return await sealed_recording(s, live.app, appointment, seconds=seconds,
                                     noise=True)


async def _video(page: Any) -> dict[str, Any]:
    return await page.evaluate("""() => { const v = document.getElementById('player-1');
        return {time: v.currentTime, ready: v.readyState, paused: v.paused,
                error: v.error && v.error.code, seeking: v.seeking}; }""")


async def _until(page: Any, check: Any, what: str, within: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    state = await _video(page)
    while not check(state):
        assert state["error"] is None, f"the video failed (MediaError {state['error']})"
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {within}s ({state})")
        await asyncio.sleep(0.1)
        state = await _video(page)
    return state


async def test_a_recording_plays_seeks_and_is_audited_once(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    rid = await _recording(live_server, world)
    context = await new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                has_touch=True)
    page = await context.new_page()
    media: list[str] = []
    page.on("request", lambda r: media.append(r.headers.get("range", "")) if "/media?" in r.url
            else None)
    await sign_in(page, world.users["alice"])
    await page.goto(f"/recordings/{rid}/play?file={RECORDING_FILE}")
    assert await page.get_by_role("heading", name="Play a recording").is_visible()
    await _until(page, lambda v: v["ready"] >= 1, "metadata loaded")
    # Written as a stream, served with its length (the seek index's patch): a seek bar.
    duration = await page.evaluate("document.getElementById('player-1').duration")
    assert abs(duration - SECONDS) < 0.5, duration
    await no_violations(page, "playback page")

    # It plays: a real user gesture (the keyboard) starts it; time advances with data ready.
    await page.locator("#player-1").focus()
    await page.keyboard.press("Space")
    playing = await _until(page, lambda v: v["time"] > 1.0 and v["ready"] >= 2,
                           "playing past one second")
    assert not playing["paused"]
    assert await page.locator(".playback-status").inner_text() == "Playing"

    # It seeks: back to the start with the keyboard, then to a point near the end.
    await page.evaluate("document.getElementById('player-1').pause()")
    await page.get_by_role("button", name="Back 10 seconds").focus()
    await page.keyboard.press("Enter")
    await _until(page, lambda v: v["time"] < 0.5 and not v["seeking"], "back to the start")
    await page.evaluate(f"document.getElementById('player-1').currentTime = {SECONDS - 2}")
    seeked = await _until(page, lambda v: not v["seeking"] and v["ready"] >= 2
                          and abs(v["time"] - (SECONDS - 2)) < 0.5, "seeked near the end")
    assert seeked["paused"]
    await page.evaluate("document.getElementById('player-1').play()")
    await _until(page, lambda v: v["time"] > SECONDS - 1.5, "playing on after the seek")

    # The player asked for ranges (a first "bytes=0-" and later parts), all one viewing.
    assert media and all(r.startswith("bytes=") for r in media), media
    assert any(r != "bytes=0-" for r in media), media
    async with live_server.db() as s:
        plays = list(await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "recording.play")))
    assert len(plays) == 1, f"{len(media)} media requests, {len(plays)} audit entries"
    assert plays[0].actor_id == world.users["alice"].id and plays[0].target_id == str(rid)


async def test_side_by_side_in_arabic_passes_axe_and_plays_together(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    rid = await _recording(live_server, world, seconds=6.0)
    async with live_server.db() as s:
        row = await s.get(Recording, rid)
        assert row is not None and row.file_path
    folder = Path(live_server.app[keys.SETTINGS].recordings_dir) / row.file_path
    # A second person's camera in the same part, which began 2 s into it.
    settings = live_server.app[keys.SETTINGS]
    write_sealed(folder / "seg001-p999999.webm.sealed",
                 parse_keys(settings.recording_keys, settings.recording_key_id),
                 seconds=6.0, began=2.0)
    context = await new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await context.new_page()
    await sign_in(page, world.users["sue"])  # the practitioner's supervisor may play it too
    await page.goto(f"/recordings/{rid}?lang=ar")
    await page.get_by_role("link", name="تشغيل الجميع جنبًا إلى جنب (الجزء 1)").click()
    assert await page.get_by_role("heading", name="تشغيل تسجيل").is_visible()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert await page.locator("video").count() == 2
    await _until(page, lambda v: v["ready"] >= 1, "metadata loaded")
    await no_violations(page, "side by side, in Arabic")
    await page.get_by_role("button", name="تشغيل الكل").click()  # "Play all"
    # In step: the later file waits its turn, then plays 2 s behind the first.
    times = "() => [...document.querySelectorAll('video')].map(v => [v.currentTime, v.paused])"
    await page.wait_for_function("() => document.getElementById('player-1').currentTime > 1")
    [(first, _), (second, waiting)] = await page.evaluate(times)
    if first < 1.8:
        assert second == 0 and waiting, (first, second)
    await page.wait_for_function("() => document.getElementById('player-2').currentTime > 1",
                                 timeout=20_000)
    [(first, _), (second, waiting)] = await page.evaluate(times)
    assert not waiting and abs(first - second - 2.0) < 0.4, (first, second)
    # Moving one player while they play together moves the other with it.
    await page.evaluate("document.getElementById('player-2').currentTime = 0.5")
    await page.wait_for_function("""() => {
        const [a, b] = [...document.querySelectorAll('video')];
        return !a.seeking && !b.seeking && a.currentTime < 3 && !a.paused && !b.paused; }""",
                                 timeout=10_000)
    [(first, _), (second, _)] = await page.evaluate(times)
    assert abs(first - second - 2.0) < 0.4, (first, second)
