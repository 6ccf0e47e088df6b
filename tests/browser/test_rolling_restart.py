"""A deploy during a call (issue #16): three Rapport processes behind a real nginx, a two-way
call in Chromium, then every process restarted one by one (SIGTERM: drain, exit, start again).

Media goes browser to browser, so it must never stall; each page's WebSocket is closed with
the draining code (4503), reconnects through nginx to another process and resumes: nobody is
sent back to the waiting room, and the contact record counts reconnects, not an interruption.
A monitor inside each page samples the inbound bytes every 200 ms and keeps the longest gap
between two rises, and every phase the page went through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server import keys
from server.settings import Settings
from server.store.models import CallSession, ContactRecord, ParticipantEvent
from tests import split
from tests.browser.calls import admit, joined, media_flows, phase, practitioner_page
from tests.browser.conftest import ACTION_TIMEOUT_MS, LiveServer
from tests.calls import remote_call
from tests.conftest import World
from tests.nginx import running_nginx
from tests.processes import Process

pytestmark = [pytest.mark.browser, pytest.mark.every_database]
redis_prefix = split.redis_prefix
LEASE = 3
STALL_MS = 2000  # the bound: inbound bytes never stall for more than 2 s

MONITOR = """() => {
  const m = window.rapportMonitor = { maxGap: 0, phases: [], last: null, lastRise: 0 };
  m.lastRise = performance.now();
  setInterval(async () => {
    const phase = rapportCall.state().phase;
    if (m.phases[m.phases.length - 1] !== phase) m.phases.push(phase);
    const samples = await rapportCall.stats();
    const bytes = samples.map(s => `${s.id}:${s.audioBytes}`).join(",");
    const now = performance.now();
    if (samples.length && bytes !== m.last) {
      m.maxGap = Math.max(m.maxGap, now - m.lastRise);
      m.lastRise = now;
      m.last = bytes;
    }
  }, 200);
}"""


@pytest.fixture
def nginx_port() -> int:
    return split.free_port()


@pytest.fixture
def settings(settings: Settings, redis_prefix: str, nginx_port: int) -> Settings:
    # The test's own app seeds the data and shares the database and Redis with the processes.
    return dataclasses.replace(settings, room_bus=split.REDIS_URL, room_bus_prefix=redis_prefix,
                               lease_seconds=LEASE, reconnect_grace_seconds=20,
                               base_url=f"http://127.0.0.1:{nginx_port}")


@pytest.fixture
async def fleet(settings: Settings, tmp_path: Path, nginx_port: int
                ) -> AsyncIterator[tuple[str, list[Process]]]:
    env = {"RAPPORT_DATABASE_URL": settings.database_url, "RAPPORT_MIGRATE_ON_START": "false",
           "RAPPORT_BASE_URL": settings.base_url, "RAPPORT_ROOM_BUS": split.REDIS_URL,
           "RAPPORT_ROOM_BUS_PREFIX": settings.room_bus_prefix,
           "RAPPORT_LEASE_SECONDS": str(LEASE), "RAPPORT_RECONNECT_GRACE_SECONDS": "20",
           "RAPPORT_LOG_JSON": "true", "RAPPORT_RECORDINGS_DIR": settings.recordings_dir}
    processes = [Process(port, env, tmp_path / f"p{i}.log")
                 for i, port in enumerate(split.free_port() for _ in range(3))]
    try:
        for process in processes:
            process.start()
        for process in processes:
            await process.ready()
        async with running_nginx(tmp_path / "nginx", nginx_port,
                                 [p.port for p in processes]) as url:
            yield url, processes
    finally:
        for process in processes:
            process.stop()


async def _restart(process: Process) -> None:
    process.kill(signal.SIGTERM)
    assert await process.wait(within=120) == 0, process.tail()
    if process.log is not None:
        process.log.close()
    process.start()
    await process.ready()


@pytest.mark.timeout(900)
async def test_a_rolling_restart_of_every_process_drops_nobody(
        live_server: LiveServer, world: World, browser: Any,
        fleet: tuple[str, list[Process]]) -> None:
    url, processes = fleet
    alice, person = world.users["alice"], world.clients["a1"]
    call = await remote_call(live_server.db, live_server.app[keys.SETTINGS], alice, person)
    contexts: list[Any] = []

    async def through_nginx(**options: Any) -> Any:
        context = await browser.new_context(
            base_url=url, timezone_id="Europe/London", locale="en-GB",
            permissions=["camera", "microphone"], **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS * 3)
        contexts.append(context)
        return context

    try:
        prac = await practitioner_page(through_nginx, alice, call.appointment.id)
        client = await joined(through_nginx, call.client_token)
        await admit(prac, person.full_name)
        await phase(client, "in", within=60)
        for page in (prac, client):
            await media_flows(page, peers=1, within=60)
            await page.evaluate(MONITOR)

        for process in processes:
            await _restart(process)
            # Both pages are back on signalling (a process that is up) before the next goes.
            for page in (prac, client):
                await media_flows(page, peers=1, within=60)

        for name, page in (("practitioner", prac), ("client", client)):
            seen = await page.evaluate("() => window.rapportMonitor")
            assert seen["phases"] == ["in"], f"{name} left the call: {seen['phases']}"
            assert seen["maxGap"] <= STALL_MS, f"{name}'s media stalled {seen['maxGap']:.0f} ms"

        async with live_server.db() as db:
            session = await db.scalar(select(CallSession).where(
                CallSession.appointment_id == call.appointment.id))
            events = [(e.kind, e.detail.get("reason")) for e in await db.scalars(
                select(ParticipantEvent).where(ParticipantEvent.call_session_id == session.id)
                .order_by(ParticipantEvent.id))]
        assert session.ended_at is None
        kinds = [kind for kind, _ in events]
        assert "reconnected" in kinds and "interrupted" not in kinds, events
        assert not any(kind == "admitted" for kind in kinds[kinds.index("reconnected"):]), \
            f"someone was admitted again after a restart: {events}"

        await prac.get_by_role("button", name="End session for everyone").click()
        await prac.get_by_role("dialog").get_by_role("button", name="Yes").click()
        await phase(client, "final", within=60)

        async def record() -> ContactRecord | None:
            async with live_server.db() as db:
                found: ContactRecord | None = await db.scalar(select(ContactRecord).where(
                    ContactRecord.appointment_id == call.appointment.id))
            return found

        for _ in range(300):
            written = await record()
            if written is not None:
                break
            await asyncio.sleep(0.2)
        assert written is not None and written.status == "ended", written
        reconnects = {p["role"]: p["reconnects"] for p in written.summary["people"]}
        assert sum(reconnects.values()) >= 2, written.summary
    finally:
        for context in contexts:
            await context.close()
