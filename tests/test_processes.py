"""Real OS processes sharing a database and Redis: a SIGKILL, a SIGTERM, and who notices.

Two `rapport serve` processes (P1, P2) run beside the test's own app (which seeds the data,
and watches like a third process). Alice's three-way call has Alice and the interpreter on
P1 and the client on P2; Bob's call sits wholly on P2. P2 is killed with SIGKILL: its lease
expires, P1 tells Alice and the interpreter the client is disconnected (within a few lease
periods), Alice and the interpreter carry on, the client reconnects to P1 and is still
admitted (no re-admission); Bob's session, which nobody rejoins, is closed as interrupted.
Then P1 gets SIGTERM and drains: its pages are told to reconnect (close code 4503).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import resource
import signal
import subprocess
import sys

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from server import workers
from server.store.models import CallSession, ContactRecord, ParticipantEvent
from signalling.protocol import Close
from tests import split
from tests.calls import client_peer, joined_peer, practitioner_peer, remote_call
from tests.conftest import sign_in
from tests.processes import Process, Site

redis_prefix, port_a = split.redis_prefix, split.port_a
LEASE = 3


@pytest.fixture
def settings(settings, redis_prefix):  # type: ignore[no-untyped-def]
    # The test's own app watches too: it must see the processes' leases, so it shares Redis.
    return dataclasses.replace(settings, room_bus=split.REDIS_URL,
                                     room_bus_prefix=redis_prefix, lease_seconds=LEASE,
                                     reconnect_grace_seconds=2)


def _env(settings, base: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"RAPPORT_DATABASE_URL": settings.database_url, "RAPPORT_MIGRATE_ON_START": "false",
            "RAPPORT_BASE_URL": f"http://127.0.0.1:{base}", "RAPPORT_ROOM_BUS": split.REDIS_URL,
            "RAPPORT_ROOM_BUS_PREFIX": settings.room_bus_prefix,
            "RAPPORT_LEASE_SECONDS": str(LEASE), "RAPPORT_RECONNECT_GRACE_SECONDS": "2",
            "RAPPORT_RECORDS_SWEEP_SECONDS": "1", "RAPPORT_LOG_JSON": "true",
            "RAPPORT_RECORDINGS_DIR": settings.recordings_dir}


INTERPRETER_CHECKS = {"interpreter.private": True, "interpreter.confidential": True}


async def _admit(doctor, person, role: str = "client") -> int:  # type: ignore[no-untyped-def]
    while True:
        roster = await doctor.expect("roster", within=60.0)
        waiting = [p for p in roster["participants"]
                   if p["role"] == role and p["state"] == "waiting"]
        if waiting and waiting[0]["checklist"]["complete"]:
            break
    await doctor.send(type="admit", participant=waiting[0]["id"])
    await person.expect("admitted", within=60.0)
    return int(waiting[0]["id"])


async def _until_connected(doctor, person_id: int, connected: bool) -> None:  # type: ignore[no-untyped-def]
    while True:
        roster = await doctor.expect("roster", within=120.0)
        entry = [p for p in roster["participants"] if p["id"] == person_id]
        if entry and entry[0]["connected"] is connected:
            return


async def _poll(check, within: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.2)


# Real processes start slowly on a loaded machine (each imports aiortc and PyAV).
@pytest.mark.timeout(600)
async def test_sigkill_is_noticed_rejoined_calls_carry_on_and_sigterm_drains(
        client, db, settings, world, tmp_path):
    alice_call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                                   interpreter=True)
    bob_call = await remote_call(db, settings, world.users["bob"], world.clients["b1"])
    p1_port, p2_port = split.free_port(), split.free_port()
    p1 = Process(p1_port, _env(settings, p1_port), tmp_path / "p1.log")
    p2 = Process(p2_port, _env(settings, p1_port), tmp_path / "p2.log")
    sessions: list[aiohttp.ClientSession] = []
    try:
        p1.start()
        p2.start()
        await p1.ready()
        await p2.ready()

        def browser() -> aiohttp.ClientSession:
            sessions.append(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
            return sessions[-1]

        alice_p1, bob_p2 = Site(p1_port, browser(), db), Site(p2_port, browser(), db)
        await sign_in(alice_p1, world.users["alice"])  # type: ignore[arg-type]
        await sign_in(bob_p2, world.users["bob"])  # type: ignore[arg-type]
        alice = await practitioner_peer(alice_p1, alice_call.appointment.id)  # type: ignore[arg-type]
        assert alice_call.interpreter_token is not None
        interp = await client_peer(Site(p1_port, browser()), alice_call.interpreter_token,  # type: ignore[arg-type]
                                   checklist=INTERPRETER_CHECKS, name="Ola Nowak")
        interp_id = await _admit(alice, interp, "interpreter")
        a1 = await client_peer(Site(p2_port, browser()), alice_call.client_token)  # type: ignore[arg-type]
        a1_id = await _admit(alice, a1)
        bob = await practitioner_peer(bob_p2, bob_call.appointment.id)  # type: ignore[arg-type]
        b1 = await client_peer(Site(p2_port, browser()), bob_call.client_token)  # type: ignore[arg-type]
        await _admit(bob, b1)
        alice_id = alice.seen[0]["you"]["id"]
        await alice.send(type="offer", to=a1_id, sdp="v=0 across processes")
        assert (await a1.expect("offer", within=60.0))["sdp"] == "v=0 across processes"

        p2.kill()  # SIGKILL: no drain, no goodbye; only its lease expiring tells
        killed = asyncio.get_running_loop().time()
        await asyncio.gather(_until_connected(alice, a1_id, connected=False),
                             _until_connected(interp, a1_id, connected=False))
        noticed = asyncio.get_running_loop().time() - killed
        # The lease (3 s) is what tells: a few periods, however loaded the machine.
        assert noticed < 6 * LEASE, f"the others noticed only after {noticed:.1f} s"
        # The two on the surviving process carry on while the client is away.
        await alice.send(type="offer", to=interp_id, sdp="v=0 interpreter leg")
        assert (await interp.expect("offer", within=60.0))["sdp"] == "v=0 interpreter leg"
        # The client's page reconnects, to the surviving process, and is still admitted.
        back = await joined_peer(Site(p1_port, a1.session), a1.session, resume=True)  # type: ignore[arg-type]
        welcome = await back.expect("welcome", within=60.0)
        assert welcome["you"]["state"] == "admitted"
        await _until_connected(alice, a1_id, connected=True)
        await back.send(type="answer", to=alice_id, sdp="v=0 answer after the crash")
        assert (await alice.expect("answer", within=60.0))["sdp"] == "v=0 answer after the crash"
        await interp.send(type="offer", to=a1_id, sdp="v=0 to the client again")
        assert (await back.expect("offer", within=60.0))["sdp"] == "v=0 to the client again"

        async def bob_closed() -> CallSession | None:
            async with db() as s:
                return await s.scalar(select(CallSession).where(
                    CallSession.appointment_id == bob_call.appointment.id,
                    CallSession.ended_at.is_not(None)))

        await _poll(bob_closed)

        async def bob_record() -> ContactRecord | None:
            async with db() as s:
                return await s.scalar(select(ContactRecord).where(
                    ContactRecord.appointment_id == bob_call.appointment.id))

        assert (await _poll(bob_record)).status == "interrupted"
        async with db() as s:
            alice_open = await s.scalar(select(CallSession).where(
                CallSession.appointment_id == alice_call.appointment.id))
            events = [(e.kind, e.detail.get("reason")) for e in await s.scalars(
                select(ParticipantEvent).where(ParticipantEvent.participant_id == a1_id)
                .order_by(ParticipantEvent.id))]
        assert alice_open is not None and alice_open.ended_at is None
        assert ("disconnected", "process gone") in events and events[-1][0] == "reconnected"
        assert ("interrupted", "server stopped") not in events

        p1.kill(signal.SIGTERM)  # a deploy: P1 drains
        assert await alice.closed(within=60.0) == Close.DRAINING
        assert await interp.closed(within=60.0) == Close.DRAINING
        assert await back.closed(within=60.0) == Close.DRAINING
        assert await p1.wait() == 0
    finally:
        for session in sessions:
            await session.close()
        p1.stop()
        p2.stop()


@pytest.mark.timeout(600)
async def test_serve_with_two_workers_shares_one_port(client, settings, tmp_path):
    port = split.free_port()
    env = _env(settings, port)
    supervisor = Process(port, env, tmp_path / "workers.log")
    redis = Redis.from_url(split.REDIS_URL)
    try:
        supervisor.start(["serve", "--workers", "2"])
        await supervisor.ready()

        # Two workers hold leases beside the test's own app (which holds the third).
        await _poll(lambda: _leases_left(redis, settings.room_bus_prefix, 3))
        supervisor.kill(signal.SIGTERM)
        assert await supervisor.wait() == 0, supervisor.tail()
        await _poll(lambda: _leases_left(redis, settings.room_bus_prefix, 1))
    finally:
        supervisor.stop()
        await redis.aclose()


async def _leases_left(redis, prefix: str, count: int) -> bool:  # type: ignore[no-untyped-def]
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:lease:*")]
    return len([k for k in keys if not k.endswith(b":connections")]) == count


async def test_several_workers_need_the_redis_bus(tmp_path):
    from tests.test_cli import rapport

    result = rapport("serve", "--workers", "2", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "RAPPORT_ROOM_BUS" in result.stderr


@pytest.mark.timeout(600)
async def test_realtime_scheduling_reaches_every_thread_of_the_process(client, settings,
                                                                      tmp_path):
    """RAPPORT_REALTIME_SCHEDULING=true: the serving process's threads run SCHED_RR (the
    recorder's writer threads, started later, inherit it), so other work on the machine
    cannot keep a withdrawal waiting (docs/recording.md, "Stopping on time")."""
    port = split.free_port()
    process = Process(port, {**_env(settings, port), "RAPPORT_REALTIME_SCHEDULING": "true"},
                      tmp_path / "realtime.log")
    try:
        process.start()
        await process.ready()
        assert process.popen is not None
        tasks = [int(t) for t in os.listdir(f"/proc/{process.popen.pid}/task")]
        assert tasks
        assert {os.sched_getscheduler(t) for t in tasks} == {os.SCHED_RR}
        assert os.sched_getparam(process.popen.pid).sched_priority == workers.REALTIME_PRIORITY
    finally:
        process.stop()


def test_realtime_scheduling_refused_says_what_it_needs(tmp_path):
    """Without CAP_SYS_NICE (dropped by util-linux's setpriv) and with no RLIMIT_RTPRIO, the
    process does not start, and says what it needs."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    environ.update(RAPPORT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/rt.db",
                   RAPPORT_REALTIME_SCHEDULING="true", RAPPORT_PORT=str(split.free_port()))
    result = subprocess.run(
        ["/usr/bin/setpriv", "--bounding-set=-sys_nice",
         sys.executable, "-m", "server.cli", "serve"],
        capture_output=True, text=True, env=environ, timeout=120, check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0)))
    assert result.returncode == 2, result.stderr
    assert "CAP_SYS_NICE" in result.stderr and "RLIMIT_RTPRIO" in result.stderr
