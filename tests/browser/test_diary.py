"""The diary in a real browser: today's appointments, and "waiting now" appearing live when
the client opens their link (no reload), with one button to open the session."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server import keys
from server.clock import now
from server.outbox import queue
from server.store.models import (
    Contact,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    OutboxStatus,
)
from tests.browser.calls import WITHIN, answer_checklist, open_link, safe_answers
from tests.browser.conftest import LiveServer, NewContext, sign_in
from tests.browser.test_inclusion_access import PHONE, accessible
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


async def test_on_a_phone_the_diary_shows_messages_open_records_and_moves_a_time(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    settings = live_server.app[keys.SETTINGS]
    call = await remote_call(live_server.db, settings, alice, person,
                             starts_in=timedelta(hours=3))
    a = call.appointment
    past = await remote_call(live_server.db, settings, alice, world.clients["a2"],
                             starts_in=-timedelta(days=1))
    async with live_server.db.begin() as s:
        for kind, channel, status, hours in [("booked", "email", OutboxStatus.DELIVERED, None),
                                             ("reminder", "sms", OutboxStatus.FAILED, 1)]:
            row = await queue.enqueue(s, organisation_id=world.org.id, kind=kind,
                                      client_id=person.id, appointment_id=a.id,
                                      payload={"hours": hours} if hours else {})
            row.channel, row.status = channel, status
        contact = Contact(client_id=past.client.id, practitioner_id=alice.id,
                          appointment_id=past.appointment.id, kind=ContactKind.VIDEO,
                          happened_at=past.appointment.starts_at,
                          outcome=ContactOutcome.ATTENDED, created_at=now(),
                          created_by_id=alice.id)
        s.add(contact)
        await s.flush()
        s.add(ContactRecord(appointment_id=past.appointment.id, contact_id=contact.id,
                            client_id=past.client.id, practitioner_id=alice.id,
                            status="ended", attendance=ContactOutcome.ATTENDED,
                            modality="video", scheduled_start=past.appointment.starts_at,
                            scheduled_end=past.appointment.starts_at, summary={},
                            built_at=now()))
    page = await (await new_context(**PHONE)).new_page()
    await sign_in(page, alice)
    entry = page.locator(f'[data-appointment="{a.id}"]')
    await entry.wait_for()
    text = await entry.inner_text()
    assert "booking (email): delivered" in text and "(text message): failed" in text
    assert "Phone them" in text
    await page.get_by_role("link", name=f"{past.client.full_name},").wait_for()
    await accessible(page, "diary with messages and an open record")

    # Move it from the diary: the form, then back to the diary saying what was done.
    await entry.get_by_role("link", name="Move").click()
    await page.wait_for_url(f"**/appointments/{a.id}/move?back=diary")
    await accessible(page, "the move form")
    later = (a.starts_at + timedelta(days=1)).astimezone(ZoneInfo(settings.timezone))
    await page.get_by_label("New date and time").fill(later.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Move and tell the client").click()
    await page.wait_for_url(f"**/diary?moved={a.id}")
    notice = await page.get_by_role("status").first.inner_text()
    assert notice.startswith("Moved to") and "sent the new time" in notice
    await accessible(page, "the diary after a move")
