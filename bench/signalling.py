"""Relay latency of the signalling server with many rooms live at once.

Run: `python -m bench.signalling [--rooms N [N ...]] [--messages M] [--no-write]`
(defaults: 50 rooms, 200 messages; `--rooms 50 200` measures both sizes, a fresh server each).

For each size it seeds a fresh, migrated SQLite database (practitioners, their clients each
seen face to face a week ago, and a remote appointment with a client link per room), then
starts the real server (`python -m server.cli serve`) in a child process on a free port of
127.0.0.1. Everything after that goes through the public interface, as browsers would:
practitioners sign in through the login form (one practitioner per ten rooms), clients open
their link and give their date of birth, both open `/signal`, send `hello` and answer their
checklists, and each practitioner admits its client as soon as its roster shows the client's
answers. A tenth of the rooms join one after another, then the rest all at once.

With every room live, each practitioner sends M `candidate` messages to its client at 20 a
second (the server allows 50 a second), rooms spread evenly over each 50 ms. The send time
is written into the candidate string; the client notes when the relayed message arrives
(both ends live in this process, so they share one clock). The server is measured from
outside: its peak RSS (VmHWM) and CPU time from /proc, where there is one.

Prints the tables and writes (or replaces) the "Signalling relay" section of
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.report import write_section
from server.settings import Settings
from server.store import migrate
from server.store.db import make_engine
from server.store.models import Organisation, Role, Team
from tests.calls import CLIENT_CHECKS, PREMISES_CHECKS, Peer, remote_call
from tests.conftest import PASSWORD, TOTP_SECRET, make_client, make_user

HEADING = "Signalling relay"
RATE = 20.0  # candidates a second per room
ROOMS_PER_PRACTITIONER = 10
BORN = date(1990, 1, 1)  # every seeded client's date of birth
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
WAIT = 60.0  # seconds any single expected message may take before the run fails


@dataclass
class Seeded:
    emails: list[str]
    rooms: list[tuple[int, str, int]]  # appointment id, client link token, practitioner index


@dataclass
class Joining:
    how: str  # "one after another" or "at once"
    joins: list[float]  # seconds, client hello → admitted
    admits: list[float]  # seconds, admit → admitted
    cpu_seconds: float | None  # server CPU during this phase
    seconds: float  # wall time of this phase


@dataclass
class Result:
    rooms: int
    messages: int
    delays: list[float]  # seconds, send → receipt
    joining: list[Joining]
    peak_rss_kib: int | None
    cpu_seconds: float | None  # server CPU during the relay phase
    own_cpu_seconds: float  # this process's CPU (every browser) during the relay phase
    relay_seconds: float  # wall time of the relay phase
    server_errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def seed(settings: Settings, rooms: int) -> Seeded:
    """A migrated database with everything the rooms need, written before the server starts."""
    engine = make_engine(settings)
    await migrate.upgrade(engine)
    db = async_sessionmaker(engine, expire_on_commit=False)
    async with db.begin() as s:
        org = Organisation(name="Bench Probation")
        s.add(org)
        await s.flush()
        team = Team(organisation_id=org.id, name="Bench")
        s.add(team)
        await s.flush()
        staff = [await make_user(s, org, team, f"practitioner{i}", {Role.PRACTITIONER})
                 for i in range(math.ceil(rooms / ROOMS_PER_PRACTITIONER))]
        clients = [await make_client(s, org, staff[i // ROOMS_PER_PRACTITIONER],
                                     f"X{900000 + i}", date_of_birth=BORN)
                   for i in range(rooms)]
    seeded = Seeded([u.email for u in staff], [])
    for i, client in enumerate(clients):
        call = await remote_call(db, settings, staff[i // ROOMS_PER_PRACTITIONER], client)
        seeded.rooms.append((call.appointment.id, call.client_token,
                             i // ROOMS_PER_PRACTITIONER))
    await engine.dispose()
    return seeded


class Server:
    """`python -m server.cli serve` in a child process, configured by environment only."""

    def __init__(self, settings: Settings, log: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log = log
        self.extra_env = extra_env or {}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
        env.update(RAPPORT_DATABASE_URL=self.settings.database_url,
                   RAPPORT_HOST=self.settings.host, RAPPORT_PORT=str(self.settings.port),
                   RAPPORT_BASE_URL=self.settings.base_url, RAPPORT_MIGRATE_ON_START="false",
                   RAPPORT_LOG_JSON="false", RAPPORT_LOG_LEVEL="WARNING")
        env.update(self.extra_env)
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server.cli", "serve", env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=out)
        async with aiohttp.ClientSession() as http:
            for _ in range(1200):  # up to a minute: the machine may be loaded
                try:
                    async with http.get(self.settings.base_url + "/login") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if self.process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        raise RuntimeError(f"the server did not start; see {self.log}")

    def _proc(self, name: str) -> str | None:
        if self.process is None:
            return None
        try:
            return Path(f"/proc/{self.process.pid}/{name}").read_text()
        except OSError:
            return None

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time so far (Linux /proc), else None."""
        stat = self._proc("stat")
        if stat is None:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int | None:
        status = self._proc("status")
        match = re.search(r"^VmHWM:\s+(\d+) kB", status or "", re.MULTILINE)
        return int(match.group(1)) if match else None

    async def stop(self) -> list[str]:
        """Stop gracefully; the server's warnings and errors, if it logged any."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line for line in lines if " WARNING " in line or " ERROR " in line
                or line.startswith("Traceback")]


def browser() -> aiohttp.ClientSession:
    """A browser's cookies, and no idle HTTP connection kept open: each page's connection is
    closed once it is read (`force_close`), as a browser's is once the server's keep-alive
    ends, so a server's memory or socket figures count the WebSockets alone."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 connector=aiohttp.TCPConnector(force_close=True))


async def sign_in(base: str, email: str) -> aiohttp.ClientSession:
    """A browser-like session signed in through the login form (CSRF token included), then
    the authenticator code (every seeded account has the tests' app; each practitioner signs
    in once, so no code is used twice)."""
    session = browser()
    for path, form in (("/login", {"email": email, "password": PASSWORD}),
                       ("/login/factor?next=/account", {"code": ""})):
        async with session.get(f"{base}{path}") as page:
            match = CSRF_FIELD.search(await page.text())
        assert match, f"no CSRF field on {path}"
        if "code" in form:
            form["code"] = pyotp.TOTP(TOTP_SECRET).now()
        async with session.post(f"{base}{path.split('?')[0]}", allow_redirects=False, data={
                **form, "next": "/account", "csrf_token": match.group(1)}) as response:
            assert response.status == 303, (path, response.status, await response.text())
    return session


async def open_link(base: str, token: str) -> aiohttp.ClientSession:
    """A fresh browser that opens the client link and gives the right date of birth."""
    session = browser()
    async with session.get(f"{base}/join/{token}") as page:
        match = CSRF_FIELD.search(await page.text())
    assert match, f"no form on the link page ({page.status})"
    async with session.post(f"{base}/join/{token}", allow_redirects=False, data={
            "csrf_token": match.group(1), "name": "", "year": str(BORN.year),
            "month": str(BORN.month), "day": str(BORN.day)}) as response:
        assert response.status == 303, (response.status, await response.text())
    return session


@dataclass
class Live:
    doctor: Peer
    person: Peer
    client_id: int
    join: float
    admit: float


async def join(base: str, staff: aiohttp.ClientSession, appointment: int, token: str) -> Live:
    """Both people in the room; the practitioner admits once the client's checklist is in."""
    doctor = Peer(await staff.ws_connect(f"{base}/signal", origin=base))
    await doctor.send(type="hello", version=1, appointment=appointment, resume=False)
    await doctor.expect("welcome", WAIT)
    await doctor.send(type="checklist", answers=PREMISES_CHECKS, location="premises")
    assert (await doctor.expect("checklist-result", WAIT))["passed"]

    browser = await open_link(base, token)
    person = Peer(await browser.ws_connect(f"{base}/signal", origin=base), browser)
    hello = time.perf_counter()
    await person.send(type="hello", version=1, resume=False)
    welcome = await person.expect("welcome", WAIT)
    client_id: int = welcome["you"]["id"]
    await person.send(type="checklist", answers=CLIENT_CHECKS)
    await person.expect("checklist-result", WAIT)

    while True:  # the practitioner's view: admit when the roster shows the answers
        roster = await doctor.expect("roster", WAIT)
        if any(p["id"] == client_id and p["state"] == "waiting" and p["checklist"]["complete"]
               for p in roster["participants"]):
            break
    admit = time.perf_counter()
    await doctor.send(type="admit", participant=client_id)
    await person.expect("admitted", WAIT)
    done = time.perf_counter()
    return Live(doctor, person, client_id, done - hello, done - admit)


async def relay(live: Live, messages: int, start: float) -> tuple[list[float], list[Any]]:
    """Send `messages` candidates on a fixed schedule; the delays seen by the client and
    anything unexpected the practitioner received meanwhile (errors such as rate_limited)."""

    async def sender() -> None:
        for i in range(messages):
            pause = start + i / RATE - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            await live.doctor.send(type="candidate", to=live.client_id, candidate={
                "candidate": f"candidate:{i} 1 udp 2122260223 192.0.2.1 {50000 + i} typ host "
                             f"generation 0 sent {time.perf_counter():.9f}",
                "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "bench"})

    async def receiver() -> list[float]:
        # Straight from the socket: keeping every message (as `Peer` does) would only grow
        # this process's heap and its garbage collector's pauses.
        delays: list[float] = []
        while len(delays) < messages:
            frame = await live.person.ws.receive(timeout=WAIT)
            arrived = time.perf_counter()
            assert frame.type is aiohttp.WSMsgType.TEXT, (frame.type, frame.data)
            message = json.loads(frame.data)
            if message["type"] != "candidate":
                live.person.seen.append(message)
                continue
            delays.append(arrived - float(message["candidate"]["candidate"].rsplit(" ", 1)[1]))
        return delays

    async def listener() -> None:
        while True:
            await live.doctor.next(3600)

    seen_before = len(live.doctor.seen)
    listening = asyncio.create_task(listener())
    _, delays = await asyncio.gather(sender(), receiver())
    await asyncio.sleep(0.2)  # a late error would arrive within this
    listening.cancel()
    unexpected = [m for m in live.doctor.seen[seen_before:] if m["type"] != "roster"]
    unexpected += [m for m in live.person.seen if m["type"] == "error"]
    return delays, unexpected


async def join_all(base: str, staff: list[aiohttp.ClientSession], server: Server,
                   rooms: list[tuple[int, str, int]], together: bool) -> tuple[list[Live], Joining]:
    """Join the rooms one after another, or all at once; the timings of that phase."""
    cpu, began = server.cpu_seconds(), time.perf_counter()
    if together:
        joined = list(await asyncio.gather(*(join(base, staff[who], appointment, token)
                                             for appointment, token, who in rooms)))
    else:
        joined = [await join(base, staff[who], appointment, token)
                  for appointment, token, who in rooms]
    seconds, after = time.perf_counter() - began, server.cpu_seconds()
    return joined, Joining(
        how=f"{len(rooms)} at once" if together else f"{len(rooms)} one after another",
        joins=[live.join for live in joined], admits=[live.admit for live in joined],
        cpu_seconds=None if cpu is None or after is None else after - cpu, seconds=seconds)


async def run(rooms: int, messages: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as folder:
        return await run_in(Path(folder), rooms, messages)


async def run_in(folder: Path, rooms: int, messages: int) -> Result:
    """One size, with the database and the server's log in `folder`."""
    port = free_port()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{folder}/bench.db", host="127.0.0.1",
                        port=port, base_url=f"http://127.0.0.1:{port}",
                        migrate_on_start=False, log_json=False)
    seeded = await seed(settings, rooms)
    server = Server(settings, folder / "server.log")
    base = settings.base_url
    await server.start()
    staff: list[aiohttp.ClientSession] = []
    joined: list[Live] = []
    alone = max(1, rooms // 10)  # the uncontended figure, then everyone at once
    try:
        staff = [await sign_in(base, email) for email in seeded.emails]
        first, calm = await join_all(base, staff, server, seeded.rooms[:alone], False)
        joined += first
        rest, rush = await join_all(base, staff, server, seeded.rooms[alone:], True)
        joined += rest
        # Everything made so far lives until the end: keep it out of this process's garbage
        # collections, whose pauses would otherwise show as relay latency.
        gc.collect()
        gc.freeze()
        cpu_before, own_before = server.cpu_seconds(), time.process_time()
        began = time.perf_counter()
        start = began + 0.5
        outcomes = await asyncio.gather(*(
            relay(live, messages, start + n / rooms / RATE) for n, live in enumerate(joined)))
        relay_seconds = time.perf_counter() - began
        cpu_after, own_after = server.cpu_seconds(), time.process_time()
        peak = server.peak_rss_kib()
    finally:
        for live in joined:
            await live.person.close()
            await live.doctor.close()
        for session in staff:
            await session.close()
        problems = await server.stop()
        gc.unfreeze()
    unexpected = [m for _, found in outcomes for m in found]
    if unexpected:
        raise RuntimeError(f"unexpected messages during the relay: {unexpected[:5]}")
    return Result(rooms=rooms, messages=messages, delays=[d for r, _ in outcomes for d in r],
                  joining=[calm, rush] if rush.joins else [calm], peak_rss_kib=peak,
                  cpu_seconds=None if cpu_before is None or cpu_after is None
                  else cpu_after - cpu_before, own_cpu_seconds=own_after - own_before,
                  relay_seconds=relay_seconds, server_errors=problems)


def quantile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def share(cpu: float | None, seconds: float) -> str:
    return "n/a" if cpu is None else f"{100 * cpu / seconds:.0f}%"


def tables(results: list[Result]) -> str:
    relay = ["| rooms | candidates relayed | median | p95 | p99 | max | server CPU "
             "| benchmark CPU | server peak RSS |", "|---|---|---|---|---|---|---|---|---|"]
    joining = ["| rooms | joining | hello → admitted median | p95 | admit → admitted median "
               "| p95 | server CPU |", "|---|---|---|---|---|---|---|"]
    for r in results:
        rss = "n/a" if r.peak_rss_kib is None else f"{r.peak_rss_kib / 1024:.0f} MiB"
        relay.append(f"| {r.rooms} | {len(r.delays)} | {ms(statistics.median(r.delays))} | "
                     f"{ms(quantile(r.delays, 0.95))} | {ms(quantile(r.delays, 0.99))} | "
                     f"{ms(max(r.delays))} | {share(r.cpu_seconds, r.relay_seconds)} | "
                     f"{share(r.own_cpu_seconds, r.relay_seconds)} | {rss} |")
        for j in r.joining:
            joining.append(f"| {r.rooms} | {j.how} | {ms(statistics.median(j.joins))} | "
                           f"{ms(quantile(j.joins, 0.95))} | {ms(statistics.median(j.admits))} "
                           f"| {ms(quantile(j.admits, 0.95))} "
                           f"| {share(j.cpu_seconds, j.seconds)} |")
    return "\n".join(relay) + "\n\n" + "\n".join(joining)


def reflow(text: str, width: int = 92) -> str:
    """Wrap each paragraph to `width`, leaving tables as they are."""
    return "\n\n".join(
        part if part.startswith("|") else textwrap.fill(
            " ".join(part.split()), width, break_long_words=False, break_on_hyphens=False)
        for part in text.strip().split("\n\n")) + "\n"


def body(results: list[Result], command: str) -> str:
    messages = results[0].messages
    return reflow(f"""`{command}` seeds a fresh SQLite database and starts the real server
(`python -m server.cli serve`: one process, the in-process room bus) on 127.0.0.1. Then,
all through the public interface, as browsers would: one practitioner per
{ROOMS_PER_PRACTITIONER} rooms signs in through the login form (CSRF token and all), every
client opens their link and gives their date of birth, both open `/signal`, say `hello` and
answer their checklists, and each practitioner admits its client as soon as its roster shows
the client's answers. A tenth of the rooms join one after another (the figure one person
sees on a quiet server), then all the others in the same instant (everyone's appointment at
ten o'clock). With every room live, each practitioner sends {messages} ICE candidates to its
client at {RATE:.0f} a second (the limit is 50), rooms spread evenly over each
{1000 / RATE:.0f} ms: {RATE:.0f} × rooms messages a second through the server in all.

Relay latency is from the practitioner's send to the client's receipt over loopback. Both
ends live in the benchmark process (one clock; one event loop for every browser, its objects
frozen out of the garbage collector before the relay so that its pauses do not count); the
server runs alone in its own process. Server CPU is its CPU time (from `/proc`) over the
phase's wall time, so 100% is one core (SQLite works in threads, so it can pass 100%);
benchmark CPU is the same for the process playing the browsers; peak RSS is the server's
alone (`VmHWM`). "Hello → admitted" runs from the client's `hello` to its `admitted`:
welcome, the checklist and its write, the roster reaching the practitioner, the admission
(a policy decision from the database, its writes, rosters to the room). "Admit → admitted"
is the admission alone.

Login throttling counts only failed sign-ins (`server/staff/throttle.py`) and every password and
date of birth here is right, so no setting is changed to stay clear of it. The signalling
rate limit is respected by the pace, and the run fails if any `error` (`rate_limited` or
another) reaches either side. The target is relay well under 50 ms p95 at 50 rooms on one
process.

{tables(results)}

Measured {datetime.now(UTC):%Y-%m-%d} on {platform.python_implementation()}
{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, SQLite in a
temporary folder, loopback.

{interpretation(results)}
""")


def interpretation(results: list[Result]) -> str:
    first, last = results[0], results[-1]
    p95 = quantile(first.delays, 0.95) * 1000
    verdict = "far under" if p95 < 5 else "under" if p95 < 50 else "over"
    text = (f"At {first.rooms} rooms the relay's p95 is {p95:.2f} ms, {verdict} the 50 ms "
            "target, with the server using "
            f"{share(first.cpu_seconds, first.relay_seconds)} of a core: relaying touches no "
            "database (validate, look up the addressee, queue for its writer).")
    if last is not first:
        text += (f" At {last.rooms} rooms ({RATE * last.rooms:.0f} messages a second) p95 is "
                 f"{quantile(last.delays, 0.95) * 1000:.2f} ms and p99 "
                 f"{quantile(last.delays, 0.99) * 1000:.2f} ms.")
    calm, rush = last.joining[0], last.joining[-1]
    text += (" Joining is where the cost is: a client on a quiet server is let in "
             f"{ms(statistics.median(calm.joins))} after `hello` (median), but when every room "
             "joins in the same instant the server is "
             f"CPU-bound ({share(rush.cpu_seconds, rush.seconds)}) on the database work of "
             "connecting, checklists, rosters and admissions, and at "
             f"{last.rooms} rooms the last clients wait "
             f"{quantile(rush.joins, 0.95):.1f} s (p95) from `hello` to `admitted`.")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, nargs="+", default=[50],
                        help="rooms live at once; several sizes run one after another")
    parser.add_argument("--messages", type=int, default=200, help="candidates per room")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    results = []
    for rooms in args.rooms:
        began = time.perf_counter()
        result = asyncio.run(run(rooms, args.messages))
        print(f"{rooms} rooms: {time.perf_counter() - began:.1f} s", file=sys.stderr)
        for line in result.server_errors[:20]:
            print(f"  server: {line}", file=sys.stderr)
        results.append(result)
    print(tables(results))
    if not args.no_write:
        command = " ".join(["python -m bench.signalling", *map(shlex.quote, sys.argv[1:])])
        write_section(HEADING, body(results, command.replace(" --no-write", "")))
        print("updated docs/performance.md")


if __name__ == "__main__":
    main()
