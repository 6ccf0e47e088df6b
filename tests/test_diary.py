"""The diary: today's and the week's appointments in order, with the policy's decision, the
link's state and who is waiting now (asked of the live rooms)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from server import keys
from server.casework.diary import window
from server.clock import now
from server.outbox import queue
from server.store.models import (
    Appointment,
    AppointmentKind,
    Client,
    Contact,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    OutboxStatus,
)
from tests.calls import client_peer, remote_call
from tests.conftest import World

LONDON = ZoneInfo("Europe/London")


async def _appointment(app: web.Application, world: World, who: str, client: str,
                       kind: AppointmentKind, starts: Any, **extra: Any) -> Appointment:
    async with app[keys.DB].begin() as s:
        row = Appointment(client_id=world.clients[client].id,
                          practitioner_id=world.users[who].id, kind=kind, starts_at=starts,
                          duration_minutes=30, created_at=now(), **extra)
        s.add(row)
    return row


async def test_the_home_page_of_a_practitioner_is_the_diary(login: Any, world: World) -> None:
    alice = await login(world.users["alice"])
    assert (await alice.get("/")).headers["Location"] == "/diary"
    sue = await login(world.users["sue"])
    assert (await sue.get("/")).headers["Location"] == "/diary"


async def test_the_diary_lists_the_week_in_order_with_decisions_and_links(
        app: web.Application, client: TestClient, login: Any, world: World) -> None:
    start, _tomorrow, end = window(now(), LONDON)
    call = await remote_call(app[keys.DB], app[keys.SETTINGS], world.users["alice"],
                             world.clients["a1"], starts_in=timedelta(minutes=30))
    async with app[keys.DB].begin() as s:  # a2 can be sent messages (a1 has no details)
        reachable = await s.get(Client, world.clients["a2"].id)
        assert reachable is not None
        reachable.phone = "+447700900123"
    # Never seen in person: the policy refuses the remote session, and says why.
    never = await _appointment(app, world, "alice", "a2", AppointmentKind.REMOTE,
                               now() + timedelta(days=2))
    await _appointment(app, world, "alice", "a2", AppointmentKind.IN_PERSON,
                       now() + timedelta(days=1))
    await _appointment(app, world, "alice", "a2", AppointmentKind.IN_PERSON,
                       end + timedelta(hours=1))  # beyond the week
    await _appointment(app, world, "bob", "b1", AppointmentKind.IN_PERSON,
                       now() + timedelta(hours=1))  # someone else's
    alice = await login(world.users["alice"])
    page = await (await alice.get("/diary")).text()
    assert page.index(f'data-appointment="{call.appointment.id}"') < page.index(
        f'data-appointment="{never.id}"')
    assert page.count('class="diary-entry"') == 3, page
    assert "Remote session allowed" in page and "Remote session not allowed" in page
    assert "Link made but not sent." in page and "No link sent yet." in page
    assert f'href="/appointments/{call.appointment.id}/call"' in page
    assert f'href="/appointments/{never.id}/call"' not in page  # the gate would refuse it
    local = call.appointment.starts_at.astimezone(LONDON).strftime("%H:%M")
    assert f"<strong>{local}</strong>" in page  # 24-hour, the organisation's zone
    assert "Client CRNB1" not in page

    # A supervisor sees the team's diary, with whose appointment each is, and cannot open it.
    sue = await login(world.users["sue"])
    team = await (await sue.get("/diary")).text()
    heading = team.split("</h1>")[0].rsplit("<h1>", 1)[1]
    assert "team" in heading and "Client CRNB1" in team and "with Bob" in team
    assert "/call" not in team


async def test_waiting_now_is_live(app: web.Application, client: TestClient, login: Any,
                                   world: World) -> None:
    call = await remote_call(app[keys.DB], app[keys.SETTINGS], world.users["alice"],
                             world.clients["a1"])
    alice = await login(world.users["alice"])
    body = await (await alice.get("/diary/waiting")).json()
    assert body["waiting"] == {}
    peer = await client_peer(client, call.client_token)
    try:
        for _ in range(100):  # the room is written before the welcome; poll generously
            body = await (await alice.get("/diary/waiting")).json()
            if body["waiting"]:
                break
            await asyncio.sleep(0.1)
        lines = body["waiting"][str(call.appointment.id)]
        assert len(lines) == 1 and lines[0].startswith("The client is waiting, since ")
        page = await (await alice.get("/diary")).text()
        assert "The client is waiting, since" in page
        # Someone else's practitioner sees nothing of it.
        bob = await login(world.users["bob"])
        assert (await (await bob.get("/diary/waiting")).json())["waiting"] == {}
    finally:
        await peer.close()


@pytest.mark.parametrize("hour", [0, 12, 23])
def test_the_week_is_seven_calendar_days_in_the_zone(hour: int) -> None:
    at = now().astimezone(LONDON).replace(hour=hour, minute=30)
    start, tomorrow, end = window(at, LONDON)
    assert start.hour == 0 and start.date() == at.date()
    assert (tomorrow.date() - start.date()).days == 1 and (end.date() - start.date()).days == 7


def _entry(page: str, appointment_id: int) -> str:
    """One appointment's entry of the diary page."""
    after = page.split(f'data-appointment="{appointment_id}"', 1)[1]
    return re.split(r'data-appointment="|</section>', after, maxsplit=1)[0]


async def _message(app: web.Application, world: World, appointment: Appointment, kind: str,
                   channel: str, status: OutboxStatus, **payload: Any) -> None:
    async with app[keys.DB].begin() as s:
        row = await queue.enqueue(s, organisation_id=world.org.id, kind=kind,
                                  client_id=appointment.client_id,
                                  appointment_id=appointment.id, payload=payload)
        row.channel, row.status = channel, status


async def test_the_diary_shows_what_became_of_each_message_from_the_outbox(
        app: web.Application, client: TestClient, login: Any, world: World) -> None:
    call = await remote_call(app[keys.DB], app[keys.SETTINGS], world.users["alice"],
                             world.clients["a1"], starts_in=timedelta(hours=3))
    a = call.appointment
    await _message(app, world, a, "booked", "email", OutboxStatus.DELIVERED)
    await _message(app, world, a, "reminder", "sms", OutboxStatus.SENT, hours=24)
    await _message(app, world, a, "text", "sms", OutboxStatus.BOUNCED)
    alice = await login(world.users["alice"])
    page = await (await alice.get("/diary")).text()
    entry = _entry(page, a.id)
    assert "booking (email): delivered" in entry
    assert "reminder 24 hours before (text message): sent" in entry
    assert "link (text message): bounced" in entry
    assert "did not reach them. Phone them" in entry  # a bounce is flagged
    assert "Link made but not sent." not in entry and "A link to join is ready." in entry

    # A failed one too; the client page says the same from the same table.
    await _message(app, world, a, "reminder", "email", OutboxStatus.FAILED, hours=1)
    page = await (await alice.get("/diary")).text()
    assert "reminder 1 hour before (email): failed" in page
    assert "reminder 1 hour before (email): failed" in await (
        await alice.get(f"/clients/{a.client_id}")).text()


async def test_the_diary_says_when_a_client_cannot_be_sent_anything(
        app: web.Application, client: TestClient, login: Any, world: World) -> None:
    async with app[keys.DB].begin() as s:
        person = await s.get(Client, world.clients["a2"].id)
        assert person is not None
        person.phone = person.email = None
    remote = await _appointment(app, world, "alice", "a2", AppointmentKind.REMOTE,
                                now() + timedelta(days=1))
    alice = await login(world.users["alice"])
    page = await (await alice.get("/diary")).text()
    entry = _entry(page, remote.id)
    assert "no mobile number or email address" in entry


async def test_the_diary_lists_open_contact_records_with_a_link(
        app: web.Application, client: TestClient, login: Any, world: World) -> None:
    past = await _appointment(app, world, "alice", "a1", AppointmentKind.REMOTE,
                              now() - timedelta(days=1))
    async with app[keys.DB].begin() as s:
        contact = Contact(client_id=past.client_id, practitioner_id=past.practitioner_id,
                          appointment_id=past.id, kind=ContactKind.VIDEO,
                          happened_at=past.starts_at, outcome=ContactOutcome.ATTENDED,
                          created_at=now(), created_by_id=past.practitioner_id)
        s.add(contact)
        await s.flush()
        s.add(ContactRecord(appointment_id=past.id, contact_id=contact.id,
                            client_id=past.client_id, practitioner_id=past.practitioner_id,
                            status="ended", attendance=ContactOutcome.ATTENDED,
                            modality="video", scheduled_start=past.starts_at,
                            scheduled_end=past.starts_at, summary={}, built_at=now()))
    alice = await login(world.users["alice"])
    page = await (await alice.get("/diary")).text()
    assert "1 contact record needs your outcome and notes" in page
    assert f'href="/contacts/{contact.id}"' in page
    # Someone else's open records are not theirs to finish.
    bob = await login(world.users["bob"])
    assert f'href="/contacts/{contact.id}"' not in await (await bob.get("/diary")).text()
    # Completed, it leaves the diary.
    async with app[keys.DB].begin() as s:
        await s.execute(update(ContactRecord).values(reviewed_at=now()))
    assert "needs your outcome" not in await (await alice.get("/diary")).text()
