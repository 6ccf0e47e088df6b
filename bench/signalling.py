"""Relay latency of the signalling server with many rooms live at once.

Run: `python -m bench.signalling [--rooms N] [--messages M] [--no-write]`. Starts the real app
on 127.0.0.1 with a fresh SQLite database and the demo data, then for each room: a remote
appointment with a fresh link, the practitioner's WebSocket (signed in through the real login
form) and the client's (link opened, date of birth checked, checklist answered), admitted
through the policy gate. With every room live, each practitioner sends M `candidate` messages
to its client at 20 a second (under the 50/s rate limit), the send time inside; the client
notes when each arrives. Writes (or replaces) the "Signalling relay" section of
docs/performance.md.

It reuses the WebSocket helpers of `tests/calls.py`, which speak the protocol exactly as the
protocol tests do; nothing reaches into the server's objects.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bench.report import write_section
from server import demo, keys, migrate
from server.app import create_app
from server.models import Client, User
from server.settings import Settings
from tests.calls import (
    CLIENT_CHECKS,
    Peer,
    joined_peer,
    open_link,
    practitioner_peer,
    remote_call,
)
from tests.conftest import sign_in

HEADING = "Signalling relay"
RATE = 20.0  # messages a second per room


async def room(http: TestClient, appointment_id: int, token: str, born: tuple[int, int, int]
               ) -> tuple[Peer, Peer, float]:
    """Both people in the room, the client admitted; returns them and the admit time."""
    doctor = await practitioner_peer(http, appointment_id)
    session, status = await open_link(http, token, birth=born)
    assert status == 303, status
    person = await joined_peer(http, session)
    await person.expect("welcome")
    await person.send(type="checklist", answers=CLIENT_CHECKS)
    await person.expect("checklist-result")
    target = person.seen[0]["you"]["id"]
    start = time.perf_counter()
    await doctor.send(type="admit", participant=target)
    await person.expect("admitted", within=30)
    return doctor, person, time.perf_counter() - start


async def relay(doctor: Peer, person: Peer, messages: int) -> list[float]:
    target = person.seen[0]["you"]["id"]

    async def sender() -> None:
        for i in range(messages):
            await doctor.send(type="candidate", to=target, candidate={
                "candidate": f"bench {i} {time.perf_counter():.9f}", "sdpMid": "0",
                "sdpMLineIndex": 0})
            await asyncio.sleep(1 / RATE)

    async def receiver() -> list[float]:
        delays = []
        while len(delays) < messages:
            message = await person.expect("candidate", within=30)
            sent = float(message["candidate"]["candidate"].split()[2])
            delays.append(time.perf_counter() - sent)
        return delays

    _, delays = await asyncio.gather(sender(), receiver())
    return delays


async def run(rooms: int, messages: int) -> tuple[list[float], list[float], float]:
    folder = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    engine = create_async_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    settings = Settings(database_url=url, migrate_on_start=False, log_json=False,
                        base_url="http://127.0.0.1:8080")
    app = create_app(settings)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    try:
        db = app[keys.DB]
        async with db.begin() as s:
            result = await demo.load(s, settings)
        email, password = result.logins["practitioner"]
        async with db() as s:
            practitioner = await s.scalar(select(User).where(User.email == email))
            client = await s.scalar(select(Client).where(Client.crn == "X100002"))
        assert practitioner is not None and client is not None
        await sign_in(http, email, password)
        calls = [await remote_call(db, settings, practitioner, client) for _ in range(rooms)]
        born = result.client_date_of_birth
        joined = [await room(http, c.appointment.id, c.client_token,
                             (born.year, born.month, born.day)) for c in calls]
        admits = [t for _, _, t in joined]
        results = await asyncio.gather(*(relay(d, p, messages) for d, p, _ in joined))
        for doctor, person, _ in joined:
            await person.close()
            await doctor.close()
    finally:
        await http.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [d for r in results for d in r], admits, peak_mib


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    delays, admits, peak = asyncio.run(run(args.rooms, args.messages))
    ms = [d * 1000 for d in delays]
    row = (f"| {args.rooms} | {len(ms)} | {statistics.median(ms):.2f} ms | "
           f"{quantile(ms, 0.95):.2f} ms | {quantile(ms, 0.99):.2f} ms | {max(ms):.2f} ms | "
           f"{statistics.median(admits) * 1000:.0f} ms | {quantile(admits, 0.95) * 1000:.0f} ms "
           f"| {peak:.0f} MiB |")
    header = ("| rooms | messages | median | p95 | p99 | max | admit median | admit p95 "
              "| peak RSS |\n|---|---|---|---|---|---|---|---|---|")
    print(header)
    print(row)
    if args.no_write:
        return
    body = f"""`python -m bench.signalling` puts {args.rooms} rooms live on one server process
(SQLite, in-process bus) and has every practitioner send {args.messages} ICE candidates to
its client at {RATE:.0f} a second, all rooms at once ({args.rooms * RATE:.0f} messages a
second in total). The latency is from the practitioner's send to the client's receipt, on
loopback, client and server in one process (so the figure includes the client side's own
work). "Admit" is from the practitioner's `admit` to the client's `admitted`: one policy
decision from the database, two writes, a roster to the room. Peak RSS is the whole benchmark
process (server and every client). The target is relay well under 50 ms p95 at 50 rooms.

{header}
{row}

Measured {datetime.now(UTC):%Y-%m-%d} on CPython {platform.python_version()},
{platform.machine()}. Relaying does not touch the database; what grows with rooms is the
event loop's share of work per message, so one process carries many more rooms than a
probation office holds at once.
"""
    write_section(HEADING, body)


if __name__ == "__main__":
    main()
