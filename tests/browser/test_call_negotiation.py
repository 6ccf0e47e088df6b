"""Every leg of a three-way call connects whatever the timing of the admissions (issue #13).

A loaded machine is made deterministic: every room change waits a moment before the rest of
the admission (the roster to the others, the recording desk, `admitted`) goes on, which is
where the answers of a just-admitted page used to be refused `not_admitted` and lost, and
the re-offers then failed with "The order of m-lines in subsequent offer doesn't match".
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from signalling.keys import ROOMS
from tests.browser.calls import (
    admit,
    joined,
    media_flows,
    phase,
    practitioner_page,
    state,
)
from tests.browser.conftest import LiveServer, NewContext
from tests.browser.test_call import _settings
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser


def slow_rooms(live: LiveServer, seconds: float) -> None:
    rooms = live.app[ROOMS]
    original = rooms.on_change

    async def slow(appointment_id: int) -> None:
        await asyncio.sleep(seconds)
        if original is not None:
            await original(appointment_id)

    rooms.on_change = slow


def console_of(page: Any) -> list[str]:
    lines: list[str] = []
    page.on("console", lambda message: lines.append(message.text))
    return lines


async def layouts(page: Any) -> list[list[str]]:
    peers = await page.evaluate("() => rapportCall.peers()")
    return [p["layout"] for p in peers]


@pytest.mark.timeout(420)
async def test_client_and_interpreter_let_in_at_once_on_a_slow_server(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person,
                             interpreter=True)
    assert call.interpreter_token is not None
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    interpreter = await joined(new_context, call.interpreter_token, "interpreter",
                               name="Ines Interpreter")
    logs = [console_of(page) for page in (prac, client, interpreter)]
    await phase(client, "waiting")
    await phase(interpreter, "waiting")
    slow_rooms(live_server, 1.5)
    await admit(prac, person.full_name)
    await admit(prac, "Ines Interpreter")
    for page in (prac, client, interpreter):
        await phase(page, "in")
    for page in (prac, client, interpreter):
        await media_flows(page, peers=2, within=45)
    for page in (prac, client, interpreter):
        assert not [e for e in (await state(page))["errors"] if e["code"] == "not_admitted"]
        # One layout per pair: audio then video, never more m-lines.
        assert all([m.split(":")[1] for m in layout] == ["audio", "video"]
                   for layout in await layouts(page)), await layouts(page)
    assert not [line for lines in logs for line in lines if "order of m-lines" in line]

    # Audio only and back: directions change, the layout does not.
    before = await layouts(client)
    await client.get_by_role("button", name="Audio only").click()
    await client.wait_for_function(
        "() => rapportCall.peers().every(p => p.video.every(d => d === 'inactive'))",
        timeout=30_000)
    assert await layouts(client) == before
    await client.get_by_role("button", name="Audio only").click()
    for page in (prac, client, interpreter):
        await media_flows(page, peers=2, within=45)
    assert await layouts(client) == before
    assert not [line for lines in logs for line in lines if "order of m-lines" in line]


async def test_practitioner_preview_plays_before_anyone_is_let_in(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, _settings(live_server), alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    preview = prac.locator("#tiles li.me video")
    await preview.wait_for(timeout=20_000)
    first = await preview.evaluate("v => v.currentTime")
    await prac.wait_for_function(
        """first => { const v = document.querySelector('#tiles li.me video');
                      return v && !v.paused && v.videoWidth > 0
                        && v.currentTime > first + 0.5; }""",
        arg=first, timeout=20_000)
    assert (await state(prac))["phase"] == "in"
