"""The diary in a real browser: today's appointments, and "waiting now" appearing live when
the client opens their link (no reload), with one button to open the session."""

from __future__ import annotations

import re
from typing import Any

import pytest

from server import keys
from tests.browser.calls import WITHIN, answer_checklist, open_link, safe_answers
from tests.browser.conftest import LiveServer, NewContext, sign_in
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser


async def test_the_diary_shows_today_and_who_is_waiting_now(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    settings = live_server.app[keys.SETTINGS]
    call = await remote_call(live_server.db, settings, alice, person)
    page = await (await new_context()).new_page()
    await sign_in(page, alice)  # lands on the diary
    entry = page.locator(f'[data-appointment="{call.appointment.id}"]')
    await entry.get_by_role("link", name=person.full_name, exact=True).wait_for()
    assert "Remote session allowed" in await entry.inner_text()
    assert await page.locator(".waiting-now").count() == 0

    # The client opens their link (generous waits: the machine may be loaded).
    client_page = await open_link(new_context, call.client_token)
    await client_page.wait_for_url("**/join", timeout=WITHIN * 1000)
    await client_page.locator("#call").wait_for(timeout=WITHIN * 1000)
    await answer_checklist(client_page, safe_answers("client"))  # walks the journey's steps
    waiting = entry.locator(".waiting-now")
    await waiting.wait_for(timeout=WITHIN * 1000)  # polled, no reload
    assert (await waiting.inner_text()).startswith("The client is waiting, since")

    # One time convention on client pages too: 24-hour, in the organisation's zone.
    await client_page.locator("#waiting-since").wait_for(timeout=WITHIN * 1000)
    since = await client_page.locator("#waiting-since").inner_text()
    assert re.search(r"\b([01]\d|2[0-3]):[0-5]\d\b", since) and not re.search(
        r"\b(AM|PM|am|pm)\b", since), since
    await entry.get_by_role("link", name="Open the session").click()
    await page.wait_for_url(f"**/appointments/{call.appointment.id}/call")
    await client_page.close()
    # Back on the diary, the client has gone (their page closed): the line goes away.
    await page.goto("/diary")
    await page.wait_for_function("() => window.rapportDiary && rapportDiary.polls >= 1")
    await page.locator(".waiting-now").first.wait_for(state="detached",
                                                      timeout=WITHIN * 1000)


async def test_a_supervisor_sees_the_team_diary(live_server: LiveServer, world: World,
                                                new_context: NewContext) -> None:
    await remote_call(live_server.db, live_server.app[keys.SETTINGS], world.users["bob"],
                      world.clients["b1"])
    page: Any = await (await new_context()).new_page()
    await sign_in(page, world.users["sue"])
    await page.get_by_role("heading", name="Your team's diary").wait_for()
    entry = page.locator(".diary-entry")
    assert "with Bob" in await entry.inner_text()
    assert await entry.get_by_role("link", name="Open the session").count() == 0
