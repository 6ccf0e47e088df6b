"""A real call in Chromium leaves a contact record with the browsers' call quality in it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy import select

from server import keys
from server.settings import Settings
from server.store.models import CallQuality, ContactRecord
from tests.browser.calls import admit, joined, media_flows, phase, practitioner_page
from tests.browser.conftest import LiveServer, NewContext
from tests.calls import remote_call
from tests.conftest import World

pytestmark = pytest.mark.browser
T = TypeVar("T")


async def _wait_for(check: Callable[[], Awaitable[T | None]], within: float = 40.0) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"nothing within {within}s")


async def test_call_quality_reaches_the_record(
        live_server: LiveServer, world: World, new_context: NewContext) -> None:
    alice, person = world.users["alice"], world.clients["a1"]
    settings: Settings = live_server.app[keys.SETTINGS]
    call = await remote_call(live_server.db, settings, alice, person)
    prac = await practitioner_page(new_context, alice, call.appointment.id)
    client = await joined(new_context, call.client_token)
    await phase(client, "waiting")
    await admit(prac, person.full_name)
    await phase(client, "in")
    await media_flows(client, peers=1)

    async def both_reported() -> list[CallQuality] | None:
        async with live_server.db() as db:
            rows = list(await db.scalars(select(CallQuality)))
        return rows if len(rows) == 2 else None

    rows = await _wait_for(both_reported)
    assert all(r.samples >= 1 and r.kbps_in_sum > 0 and r.packets_received > 0 for r in rows)

    await prac.get_by_role("button", name="End session for everyone").click()
    await prac.get_by_role("dialog").get_by_role("button", name="Yes").click()
    await phase(client, "final")

    async def record() -> ContactRecord | None:
        async with live_server.db() as db:
            found: ContactRecord | None = await db.scalar(select(ContactRecord))
        return found

    written = await _wait_for(record)
    assert (written.status, written.attendance.value, written.modality) == (
        "ended", "attended", "video")
    quality = {q["role"]: q for q in written.summary["quality"]}
    assert set(quality) == {"practitioner", "client"}
    assert quality["client"]["kbps_in_avg"] > 0 and quality["client"]["loss_percent"] is not None
